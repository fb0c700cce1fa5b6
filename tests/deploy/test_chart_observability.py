"""Observability in the chart: metrics ports, tracing, PodMonitors, the NetworkPolicy that lets Prometheus
scrape, the PrometheusRule alerts and the Grafana dashboard; and deploy_support.queried_metrics(), the list
of metric names a live test looks for in a scrape of the running stack.

Helpers: deploy_support.py; fixtures: conftest.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml
from deploy_support import (
    ALL_FEATURES,
    GPU_ONLY_METRICS,
    NAMESPACE,
    REPO_ROOT,
    containers,
    dashboard_panels,
    dashboard_queries,
    env_of,
    find,
    grafana_dashboards,
    grafana_promql,
    one,
    pod_templates,
    preset,
    promql_metric_names,
    queried_metrics,
    render,
    rule_queries,
    strip,
)

# OTEL_SERVICE_NAME of every pod template's main container, and whether the chart's own process serves
# metrics there (the Ray pods' metrics come from Ray's metrics export instead).
SERVICES = {
    "Deployment/headshots-gateway-web": ("gateway-web", True),
    "Deployment/headshots-gateway-grpc": ("gateway-grpc", True),
    "Deployment/headshots-gateway-worker": ("gateway-worker", True),
    "Deployment/headshots-photo-checker": ("photo-checker", True),
    "Deployment/headshots-trainer": ("trainer", True),
    "Deployment/headshots-renderer-dispatcher": ("renderer-dispatcher", True),
    "RayService/headshots-renderer/head": ("renderer", False),
    "RayService/headshots-renderer/gpu": ("renderer", False),
    "Job/headshots-migrations": ("gateway-migrations", None),
    "CronJob/headshots-gateway-retention": ("gateway-retention", None),
}

# The metrics the default alerts and dashboard query, as a scrape shows them: what the live test of
# the running stack looks for (histograms through their _bucket/_count/_sum series).
EXPECTED_QUERIED = {
    # gateway-web
    "http_server_request_duration_seconds_bucket",
    "http_server_request_duration_seconds_count",
    # gateway-grpc (and the trainer's TrainerService)
    "grpc_server_handled_total",
    "grpc_server_handling_seconds_bucket",
    # gateway web, grpc and worker
    "gateway_orders_created_total",
    "gateway_orders_finished_total",
    "gateway_outbox_backlog_messages",
    "gateway_outbox_oldest_age_seconds",
    "gateway_webhook_attempts_total",
    # photo-checker
    "headshots_photo_check_backlog_age_seconds",
    "headshots_photo_check_failures_total",
    # every Kafka consumer
    "kafka_consumer_lag_records",
    # trainer
    "trainer_step_seconds_bucket",
    "trainer_queue_wait_seconds_bucket",
    "trainer_jobs_running",
    "trainer_jobs_total",
    "trainer_failures_total",
    # renderer-dispatcher
    "renderer_images_delivered_total",
    "renderer_images_rejected_total",
    # renderer replicas, through Ray's metrics export
    "ray_renderer_batch_size_bucket",
    "ray_renderer_batch_size_count",
    "ray_renderer_batch_size_sum",
    "ray_renderer_queue_depth",
    "ray_renderer_images_rendered_total",
    "ray_renderer_adapter_lookups_total",
    "ray_renderer_adapter_evictions_total",
    "ray_renderer_adapter_file_loads_total",
    "ray_renderer_gpu_memory_used_bytes",
    "ray_renderer_gpu_memory_total_bytes",
}

ALERTS = {
    "HeadshotsKafkaConsumerLagHigh",
    "HeadshotsOutboxMessageTooOld",
    "HeadshotsFailedOrdersRateHigh",
    "HeadshotsGpuMemoryNearlyFull",
    "HeadshotsWebhookDeliveriesFailing",
    "HeadshotsPhotoChecksBacklogged",
    "HeadshotsPhotoChecksFailing",
}
MONITORING_ON = {"metrics": ALL_FEATURES["metrics"]}
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def metrics_port(container: dict[str, Any]) -> int | None:
    ports = [port for port in container.get("ports", []) if port["name"] == "metrics"]
    assert len(ports) <= 1
    return ports[0]["containerPort"] if ports else None


def rules(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    (rule_object,) = find(objects, "PrometheusRule")
    return {rule["alert"]: rule for group in rule_object["spec"]["groups"] for rule in group["rules"]}


def the_dashboard(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (dashboard,) = grafana_dashboards(objects).values()
    return dashboard


# --------------------------------------------------------------------------
# Metrics ports and the processes' environment
# --------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["default", "all-features"])
def test_every_workload_serves_metrics_on_a_named_port(scenario, default_objects, all_objects):
    objects = default_objects if scenario == "default" else all_objects
    templates = dict(pod_templates(objects))
    assert set(templates) == set(SERVICES)
    for name, template in templates.items():
        service, own_process = SERVICES[name]
        container = template["spec"]["containers"][0]
        env = env_of(container)
        assert env["OTEL_SERVICE_NAME"]["value"] == service, name
        port = metrics_port(container)
        if own_process is None:  # Jobs: nothing to scrape
            assert port is None and "HEADSHOTS_METRICS_PORT" not in env, name
        elif own_process:
            assert port == 9090, name
            assert env["HEADSHOTS_METRICS_PORT"]["value"] == str(port), name
            assert env["HEADSHOTS_METRICS_HOST"]["value"] == "0.0.0.0", f"{name}: Prometheus cannot reach 127.0.0.1"
        else:
            assert port == 8080, name
            assert "HEADSHOTS_METRICS_PORT" not in env, name  # KubeRay and Ray serve these metrics
        assert "HEADSHOTS_TRAINER_METRICS_PORT" not in env, f"{name}: renamed HEADSHOTS_METRICS_PORT"


def test_ray_metrics_export_port_is_the_named_port():
    objects = render(
        {"renderer": {"containerPorts": {"metrics": 18080}, "head": {"rayStartParams": {"num-cpus": "0"}}}}
    )
    cluster = one(objects, "RayService", "headshots-renderer")["spec"]["rayClusterConfig"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    for group in groups:
        assert group["rayStartParams"]["metrics-export-port"] == "18080"
        assert metrics_port(group["template"]["spec"]["containers"][0]) == 18080
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"


def test_metrics_ports_are_values():
    objects = render(
        {
            "gateway": {
                "web": {"containerPorts": {"metrics": 9101}},
                "grpc": {"containerPorts": {"metrics": 9102}},
                "worker": {"containerPorts": {"metrics": 9103}},
            },
            "trainer": {"containerPorts": {"metrics": 9104}},
            "renderer": {"dispatcher": {"containerPorts": {"metrics": 9105}}},
        }
    )
    for port, name in enumerate(
        ("gateway-web", "gateway-grpc", "gateway-worker", "trainer", "renderer-dispatcher"), 9101
    ):
        container = one(objects, "Deployment", f"headshots-{name}")["spec"]["template"]["spec"]["containers"][0]
        assert metrics_port(container) == port, name
        assert env_of(container)["HEADSHOTS_METRICS_PORT"]["value"] == str(port), name


def test_gateway_web_collects_its_workers_metrics_on_an_emptydir(default_objects):
    pod = one(default_objects, "Deployment", "headshots-gateway-web")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    directory = env_of(container)["PROMETHEUS_MULTIPROC_DIR"]["value"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = [m for m in container["volumeMounts"] if directory.startswith(m["mountPath"].rstrip("/") + "/")]
    assert len(mounts) == 1, "PROMETHEUS_MULTIPROC_DIR must lie on exactly one mounted volume"
    (mount,) = mounts
    assert "emptyDir" in volumes[mount["name"]], "the root filesystem is read-only"
    assert mount["mountPath"] != "/tmp", "a volume of its own: gunicorn empties the directory when it starts"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_tracing_is_off_unless_an_endpoint_is_set(default_objects, all_objects):
    for where, container in containers(default_objects):
        assert not any(name.startswith("OTEL_EXPORTER") for name in env_of(container)), where
    endpoint = ALL_FEATURES["tracing"]["otlpEndpoint"]
    count = 0
    for where, container in containers(all_objects):
        assert env_of(container)["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == endpoint, where
        count += 1
    assert count == len(SERVICES)


# --------------------------------------------------------------------------
# PodMonitors and the NetworkPolicy
# --------------------------------------------------------------------------


def test_monitoring_objects_are_off_by_default(default_objects):
    kinds = {obj["kind"] for obj in default_objects}
    assert not kinds & {"PodMonitor", "ServiceMonitor", "PrometheusRule", "ConfigMap"}


def test_pod_monitors_select_every_workload_on_its_metrics_port(all_objects):
    monitors = find(all_objects, "PodMonitor")
    scraped = {name: t for name, t in pod_templates(all_objects) if metrics_port(t["spec"]["containers"][0])}
    assert len(scraped) == 8
    for monitor in monitors:
        spec = monitor["spec"]
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
        (endpoint,) = spec["podMetricsEndpoints"]
        assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
        assert endpoint["interval"] == "15s"
        selected = [
            name
            for name, template in scraped.items()
            if spec["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
        ]
        assert selected, f"{monitor['metadata']['name']} selects no pod"
        for name in selected:
            scraped.pop(name)
    assert scraped == {}, f"pods no PodMonitor scrapes: {sorted(scraped)}"
    # One PodMonitor per workload, the Ray head and workers together (one component).
    assert len(monitors) == 7


def test_pod_monitors_follow_their_values():
    objects = render(
        {
            "metrics": {
                "podMonitor": {
                    "enabled": True,
                    "namespace": "monitoring",
                    "interval": "",
                    "scrapeTimeout": "10s",
                    "metricRelabelings": [{"action": "drop", "regex": "ray_serve_.*", "sourceLabels": ["__name__"]}],
                }
            }
        }
    )
    for monitor in find(objects, "PodMonitor"):
        assert monitor["metadata"]["namespace"] == "monitoring"
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        assert "interval" not in endpoint and endpoint["scrapeTimeout"] == "10s"
        assert endpoint["metricRelabelings"][0]["action"] == "drop"


def label_selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


@pytest.mark.parametrize("scenario", ["default", "all-features"])
def test_network_policy_lets_prometheus_scrape_the_metrics_ports_only(scenario, default_objects, all_objects):
    objects = default_objects if scenario == "default" else all_objects
    policy = one(objects, "NetworkPolicy", "headshots-allow-metrics")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    if scenario == "default":
        assert "from" not in rule
    else:
        assert rule["from"] == ALL_FEATURES["networkPolicy"]["metricsPeers"]
    for name, template in pod_templates(objects):
        has_port = metrics_port(template["spec"]["containers"][0]) is not None
        assert label_selector_matches(policy["podSelector"], template["metadata"]["labels"]) == has_port, name


# --------------------------------------------------------------------------
# PrometheusRule
# --------------------------------------------------------------------------


def test_prometheus_rule_has_every_alert_complete(all_objects):
    (rule_object,) = find(all_objects, "PrometheusRule")
    assert rule_object["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    alerts = rules(all_objects)
    assert set(alerts) == ALERTS
    for name, rule in alerts.items():
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, name
        assert DURATION.match(rule["for"]), name
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        annotations = rule["annotations"]
        assert {"summary", "description"} <= set(annotations), name
        assert all(text.strip() for text in annotations.values()), name
        assert promql_metric_names(rule["expr"]), name
        # Scoped to the release's namespace: another release's series never fire these alerts.
        assert f'namespace="{NAMESPACE}"' in rule["expr"], name
        # Prometheus' own templates reached the object intact (Helm must not have expanded them).
        assert "{{ $labels.namespace }}" in annotations["description"] or "{{ $value" in annotations["description"]


RUNBOOKS = REPO_ROOT / "docs" / "operators" / "runbooks"


def test_every_alert_links_its_runbook_and_every_runbook_is_an_alerts(all_objects):
    alerts = rules(all_objects)
    for name, rule in alerts.items():
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/operators/runbooks/{name}.md", name  # the default: the page's path in the repository
        page = REPO_ROOT / url
        assert page.is_file(), f"{name}: runbook_url {url} is no page"
        text = page.read_text()
        assert text.startswith(f"# {name}\n") and "## Diagnose" in text and "## Fix" in text, name
    assert {page.stem for page in RUNBOOKS.glob("*.md")} == set(alerts), "a runbook for an alert that is gone"
    # Operators point the links at where they read the docs.
    base = "https://git.example.com/ops/headshots/blob/main/docs/operators/runbooks/"
    served = rules(render({"metrics": {"prometheusRule": {"enabled": True, "runbookBaseUrl": base}}}))
    assert {rule["annotations"]["runbook_url"] for rule in served.values()} == {f"{base}{name}.md" for name in alerts}


def test_alerts_query_what_they_are_about(all_objects):
    alerts = rules(all_objects)
    metrics = {name: promql_metric_names(rule["expr"]) for name, rule in alerts.items()}
    assert metrics == {
        "HeadshotsKafkaConsumerLagHigh": {"kafka_consumer_lag_records"},
        "HeadshotsOutboxMessageTooOld": {"gateway_outbox_oldest_age_seconds"},
        "HeadshotsFailedOrdersRateHigh": {"gateway_orders_finished_total"},
        "HeadshotsGpuMemoryNearlyFull": {"ray_renderer_gpu_memory_used_bytes", "ray_renderer_gpu_memory_total_bytes"},
        "HeadshotsWebhookDeliveriesFailing": {"gateway_webhook_attempts_total"},
        "HeadshotsPhotoChecksBacklogged": {"headshots_photo_check_backlog_age_seconds"},
        "HeadshotsPhotoChecksFailing": {"headshots_photo_check_failures_total"},
    }
    assert "by (namespace, group)" in alerts["HeadshotsKafkaConsumerLagHigh"]["expr"]  # per consumer group
    assert 'state="failed"' in alerts["HeadshotsFailedOrdersRateHigh"]["expr"]
    assert 'outcome="failed"' in alerts["HeadshotsWebhookDeliveriesFailing"]["expr"]


def test_alert_thresholds_and_durations_are_values():
    alerts_values = {
        "consumerLag": {"threshold": 4321, "for": "42m", "severity": "critical"},
        "outboxAge": {"thresholdSeconds": 777, "for": "3m", "severity": "warning"},
        "failedOrders": {"ratio": 0.25, "window": "2h", "minOrders": 33, "for": "1h", "severity": "info"},
        "gpuMemory": {"ratio": 0.875, "for": "7m", "severity": "critical"},
        "webhookFailures": {"threshold": 5, "window": "1h", "for": "0", "severity": "critical"},
        "photoBacklog": {"thresholdSeconds": 45, "for": "4m", "severity": "warning"},
        "photoCheckFailures": {"threshold": 7, "window": "20m", "for": "1m", "severity": "critical"},
    }
    objects = render({"metrics": {"prometheusRule": {"enabled": True, "alerts": alerts_values}}})
    alerts = rules(objects)
    expected = {
        "HeadshotsKafkaConsumerLagHigh": ("consumerLag", [") > 4321"]),
        "HeadshotsOutboxMessageTooOld": ("outboxAge", ["> 777"]),
        "HeadshotsFailedOrdersRateHigh": ("failedOrders", ["[2h]", ") > 0.25", ">= 33"]),
        "HeadshotsGpuMemoryNearlyFull": ("gpuMemory", [") > 0.875"]),
        "HeadshotsWebhookDeliveriesFailing": ("webhookFailures", ["[1h]", "> 5"]),
        "HeadshotsPhotoChecksBacklogged": ("photoBacklog", ["> 45"]),
        "HeadshotsPhotoChecksFailing": ("photoCheckFailures", ["[20m]", "> 7"]),
    }
    for name, (key, fragments) in expected.items():
        rule = alerts[name]
        for fragment in fragments:
            assert fragment in rule["expr"], (name, fragment, rule["expr"])
        assert rule["for"] == alerts_values[key]["for"], name
        assert rule["labels"]["severity"] == alerts_values[key]["severity"], name
        promql_metric_names(rule["expr"])


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (Debian: apt-get install prometheus)"
)
def test_promtool_accepts_the_rules(all_objects, tmp_path):
    """Prometheus' own checker: rule file structure, PromQL, and the Go templates of the annotations."""
    (rule_object,) = find(all_objects, "PrometheusRule")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": strip(rule_object)["spec"]["groups"]}))
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


# --------------------------------------------------------------------------
# Grafana dashboard
# --------------------------------------------------------------------------


def test_dashboard_configmap_carries_the_sidecar_label(all_objects):
    (configmap,) = find(all_objects, "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["annotations"]["grafana_folder"] == "Headshots"
    assert configmap["metadata"]["annotations"]["headshots.io/owner"] == "platform"  # commonAnnotations too
    objects = render(
        {"metrics": {"grafanaDashboard": {"enabled": True, "labelKey": "dashboards", "labelValue": "headshots"}}}
    )
    (configmap,) = find(objects, "ConfigMap")
    assert configmap["metadata"]["labels"]["dashboards"] == "headshots"
    assert "grafana_dashboard" not in configmap["metadata"]["labels"]


def test_dashboard_is_valid(all_objects):
    dashboard = the_dashboard(all_objects)
    assert dashboard["uid"] == "headshots-overview" and dashboard["title"]
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    panels = [panel for panel in dashboard_panels(dashboard) if panel["type"] != "row"]
    assert len(panels) >= 12
    assert len({panel["id"] for panel in dashboard_panels(dashboard)}) == len(list(dashboard_panels(dashboard)))
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        title = panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, title
        assert panel["targets"], f"{title} has no targets"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), title
        for target in panel["targets"]:
            assert target["expr"].strip(), title
            assert target["datasource"]["uid"] == "${datasource}", title
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, title
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{title} overlaps {cells[(x, y)]}"
                cells[(x, y)] = title
    for where, expr in dashboard_queries(dashboard):
        try:
            promql_metric_names(expr)
        except ValueError as error:
            pytest.fail(f"{where}: {error}")


def test_dashboard_shows_what_the_issue_asks_for(all_objects):
    dashboard = the_dashboard(all_objects)
    by_panel: dict[str, set[str]] = {}
    for panel in dashboard_panels(dashboard):
        for target in panel.get("targets", []):
            by_panel.setdefault(panel["title"], set()).update(promql_metric_names(grafana_promql(target["expr"])))
    queried = set().union(*by_panel.values())
    wanted = {
        "request latency per route": "http_server_request_duration_seconds_bucket",
        "RPC latency": "grpc_server_handling_seconds_bucket",
        "REST errors by code": "http_server_request_duration_seconds_count",
        "gRPC errors by code": "grpc_server_handled_total",
        "Kafka consumer lag": "kafka_consumer_lag_records",
        "outbox backlog": "gateway_outbox_backlog_messages",
        "outbox oldest age": "gateway_outbox_oldest_age_seconds",
        "orders created": "gateway_orders_created_total",
        "orders finished by state": "gateway_orders_finished_total",
        "training step time": "trainer_step_seconds_bucket",
        "training queue wait": "trainer_queue_wait_seconds_bucket",
        "renderer batch size": "ray_renderer_batch_size_bucket",
        "renderer queue depth": "ray_renderer_queue_depth",
        "adapter tier hit rate": "ray_renderer_adapter_lookups_total",
        "adapter evictions": "ray_renderer_adapter_evictions_total",
        "GPU memory": "ray_renderer_gpu_memory_used_bytes",
        "webhook attempts by outcome": "gateway_webhook_attempts_total",
    }
    missing = {what: metric for what, metric in wanted.items() if metric not in queried}
    assert not missing
    latency = next(title for title, names in by_panel.items() if "http_server_request_duration_seconds_bucket" in names)
    exprs = [t["expr"] for p in dashboard_panels(dashboard) if p["title"] == latency for t in p["targets"]]
    assert {expr.split(",")[0] for expr in exprs} == {
        "histogram_quantile(0.5",
        "histogram_quantile(0.95",
        "histogram_quantile(0.99",
    }
    assert all("http_route" in expr for expr in exprs)


# --------------------------------------------------------------------------
# queried_metrics(): what the live test looks for in a scrape
# --------------------------------------------------------------------------


def test_queried_metrics_lists_every_metric_the_alerts_and_dashboard_query(all_objects):
    assert queried_metrics(all_objects) == EXPECTED_QUERIED
    assert GPU_ONLY_METRICS <= EXPECTED_QUERIED
    # Only what PromQL selects: no label values, functions or label names.
    assert not {name for name in queried_metrics(all_objects) if name in {"le", "failed", "rate", "sum", "namespace"}}


def test_queried_metrics_covers_the_rules_and_the_dashboard_separately(all_objects):
    from_rules = set().union(*(promql_metric_names(expr) for _, expr in rule_queries(all_objects)))
    assert from_rules < EXPECTED_QUERIED
    only_rules = [obj for obj in all_objects if obj["kind"] == "PrometheusRule"]
    assert queried_metrics(only_rules) == from_rules
    assert queried_metrics(render(MONITORING_ON)) == EXPECTED_QUERIED
    assert queried_metrics(render()) == set()  # nothing rendered, nothing queried


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        ('rate(x_total{a="b_total", le=~"0.5|1"}[5m] offset 1h)', {"x_total"}),
        ("histogram_quantile(0.9, sum by (le, job) (rate(h_bucket[5m])))", {"h_bucket"}),
        ("sum(rate(h_sum[5m])) / ignoring(le) group_left sum(rate(h_count[5m]))", {"h_sum", "h_count"}),
        ('{__name__="by_name", job="x"}', {"by_name"}),
        ("max_over_time(deriv(g[10m])[1h:5m]) unless on(pod) -other @ 1700000000", {"g", "other"}),
        ("label_replace(a, 'dst', '$1', 'src', '(.*)') or vector(0) and absent(b)", {"a", "b"}),
        ("count(count by (le) (c)) > bool 3", {"c"}),
        ("time() - 5", set()),
    ],
)
def test_promql_metric_names_parses_promql(expr, names):
    assert promql_metric_names(expr) == names


@pytest.mark.parametrize(
    "expr",
    [
        "rate(x[5m]",  # syntax error
        "sum(x) by (",  # syntax error
        '{__name__=~"ray_.*"}',  # a set of metrics nobody can list
        '{job="x"}',  # no metric name at all
    ],
)
def test_promql_metric_names_rejects_what_it_cannot_list(expr):
    with pytest.raises(ValueError):
        promql_metric_names(expr)


def test_grafana_variables_are_read_like_grafana():
    dashboard = {
        "panels": [
            {
                "type": "row",
                "title": "collapsed",
                "panels": [{"title": "p", "targets": [{"refId": "A", "expr": "rate(a_total[$__rate_interval])"}]}],
            },
            {"title": "q", "targets": [{"refId": "A", "expr": 'sum(rate(b{namespace=~"$namespace"}[${__range}]))'}]},
        ],
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
                {"name": "ns", "type": "query", "query": {"query": 'label_values(c_total{job="x"}, namespace)'}},
                {"name": "pod", "type": "query", "query": "query_result(topk(3, d))"},
            ]
        },
    }
    objects = [
        {
            "kind": "ConfigMap",
            "metadata": {"name": "dashboards"},
            "data": {"d.json": json.dumps(dashboard), "notes.txt": "not a dashboard"},
        }
    ]
    assert queried_metrics(objects) == {"a_total", "b", "c_total", "d"}


def test_production_preset_turns_monitoring_on():
    values = preset("values-production.example.yaml")
    objects = render(values)
    assert len(find(objects, "PodMonitor")) == 7
    assert set(rules(objects)) == ALERTS
    assert the_dashboard(objects)["uid"] == "headshots-overview"
    policy = one(objects, "NetworkPolicy", "headshots-allow-metrics")["spec"]
    assert policy["ingress"][0]["from"], "production restricts the scrape to Prometheus"
    endpoint = values["tracing"]["otlpEndpoint"]
    for where, container in containers(objects):
        assert env_of(container)["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == endpoint, where
    assert queried_metrics(objects) == EXPECTED_QUERIED

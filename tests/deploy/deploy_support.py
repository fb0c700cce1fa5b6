"""Shared helpers of the tests in tests/deploy (not a test module: test modules import this, never each other).

- the Helm chart in deploy/helm/headshots: render() renders it offline like `helm template`, through
  the Helm Go SDK of the `helm-python-sdk` package (import name helm_python); find(), one(),
  pod_templates(), containers() and env_of() pick the rendered objects apart;
- the value scenarios every chart test can use (SCENARIOS: defaults, ALL_FEATURES, FEATURES_OFF) and
  the presets values-dev.yaml and values-production.example.yaml (preset());
- the services' Dockerfiles (dockerfile(), instructions()) and the probe that test_service_images.py runs
  inside each built image (PROBE_SCRIPT);
- the metrics the chart's alerts and Grafana dashboard query (queried_metrics(), with PromQL parsed by
  the `promql-parser` package), for a live test to look for in a scrape of the running stack.

The pytest fixtures built on these (default_objects, all_objects, built_images) are in conftest.py.
Pinned test dependencies: requirements/deploy-test.txt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import promql_parser
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "deploy" / "helm" / "headshots"
CRDS_DIR = Path(__file__).resolve().parent / "crds"
PROBE_SCRIPT = Path(__file__).resolve().parent / "image_probe.py"

RELEASE = "headshots"
NAMESPACE = "headshots"
# kubernetes-validate ships the schemas of several Kubernetes releases; the
# chart is validated against this one (Chart.yaml requires >=1.29).
KUBE_VERSION = "1.31.0"

SERVICES = ("gateway", "trainer", "renderer")
PRESETS = ("values-dev.yaml", "values-production.example.yaml", "values-podman.yaml")

TOPICS = {"headshots.orders.v1", "headshots.training.v1", "headshots.rendering.v1", "headshots.photos.v1"}
SHARED_ENV = {
    "DATABASE_URL",
    "DJANGO_SECRET_KEY",
    "HEADSHOTS_KAFKA_BOOTSTRAP",
    "HEADSHOTS_BLOB_URL",
    "HEADSHOTS_BASE_MODEL",
    "HEADSHOTS_BASE_MODEL_ARCH",
}
GPU = "nvidia.com/gpu"
# Set per process, not shared: its service name, where it serves its metrics (helper
# headshots.env.observability) and gateway-web's multiprocess metrics directory.
PROCESS_ENV = {"OTEL_SERVICE_NAME", "HEADSHOTS_METRICS_HOST", "HEADSHOTS_METRICS_PORT", "PROMETHEUS_MULTIPROC_DIR"}

# Custom resources the chart renders and the API groups they belong to.
CRD_KINDS = {
    ("ray.io/v1", "RayService"),
    ("kafka.strimzi.io/v1beta2", "Kafka"),
    ("kafka.strimzi.io/v1beta2", "KafkaNodePool"),
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
CRD_GROUPS = {api_version.split("/")[0] for api_version, _ in CRD_KINDS}

# Every optional feature switched on, plus non-default shared settings.
ALL_FEATURES: dict[str, Any] = {
    "global": {"imagePullSecrets": ["registry-credentials"]},
    "commonLabels": {"team": "headshots"},
    "commonAnnotations": {"headshots.io/owner": "platform"},
    "config": {
        "blob": {"s3": {"endpointUrl": "http://minio.storage:9000", "region": "eu-west-1"}},
        "extraEnvVars": [{"name": "LOG_LEVEL", "value": "debug"}],
    },
    "gateway": {
        "config": {"cache": {"url": "redis://redis-master.cache:6379/0"}, "rateLimit": "600/min"},
        "web": {"podAnnotations": {"prometheus.io/scrape": "true"}},
        "retention": {"timeZone": "Europe/Paris", "podAnnotations": {"sidecar.istio.io/inject": "false"}},
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
            "hosts": [{"host": "headshots.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}],
            "tls": [{"secretName": "headshots-tls", "hosts": ["headshots.example.com"]}],
        },
        "grpc": {
            "tls": {"enabled": True, "existingSecret": "headshots-grpc-server-tls", "clientCaKey": "ca.crt"},
            "ingress": {
                "enabled": True,
                "className": "nginx",
                "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
                "hosts": [{"host": "grpc.headshots.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}],
                "tls": [{"secretName": "headshots-grpc-tls", "hosts": ["grpc.headshots.example.com"]}],
            },
        },
    },
    "trainer": {"keda": {"enabled": True}, "nodeSelector": {"nvidia.com/gpu.present": "true"}},
    "renderer": {"worker": {"rayStartParams": {"num-gpus": "1"}}},
    "kafka": {"strimzi": {"enabled": True, "storage": {"storageClass": "fast-ssd"}}},
    "networkPolicy": {
        "rayOperatorPeers": [{"namespaceSelector": {"matchLabels": {"name": "kuberay"}}}],
        "metricsPeers": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
            }
        ],
    },
    "tracing": {"otlpEndpoint": "http://otel-collector.observability:4318"},
    "metrics": {
        "podMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}, "interval": "15s"},
        "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "grafanaDashboard": {"enabled": True, "annotations": {"grafana_folder": "Headshots"}},
    },
}

# Every optional feature switched off.
FEATURES_OFF: dict[str, Any] = {
    "serviceAccount": {"create": False, "name": "headshots-runner"},
    "config": {"blob": {"s3": {"existingSecret": ""}}},
    "gateway": {
        "web": {"autoscaling": {"enabled": False}, "pdb": {"create": False}},
        "migrations": {"enabled": False},
        "retention": {"enabled": False},
    },
    "renderer": {"autoscaling": {"enabled": False}},
    "kafka": {"topics": {"strimzi": {"enabled": False}}},
    "networkPolicy": {"enabled": False},
}

SCENARIOS = {"default": None, "all-features": ALL_FEATURES, "features-off": FEATURES_OFF}


# --------------------------------------------------------------------------
# Rendering the chart
# --------------------------------------------------------------------------


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Render the chart like `helm template` and return its objects."""
    with helm.Chart.load(CHART_DIR) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                document.setdefault("_template", path)
                objects.append(document)
    return objects


def preset(name: str) -> dict[str, Any]:
    """The values of a preset shipped beside the chart (values-dev.yaml, values-production.example.yaml)."""
    return yaml.safe_load((CHART_DIR / name).read_text())


def strip(obj: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in obj.items() if key != "_template"}


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind and (name is None or obj["metadata"]["name"] == name)]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected exactly one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_templates(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every pod template the chart defines, including the Ray pods' templates."""
    for obj in objects:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] in {"Deployment", "Job"}:
            yield name, obj["spec"]["template"]
        elif obj["kind"] == "CronJob":
            yield name, obj["spec"]["jobTemplate"]["spec"]["template"]
        elif obj["kind"] == "RayService":
            cluster = obj["spec"]["rayClusterConfig"]
            yield f"{name}/head", cluster["headGroupSpec"]["template"]
            for group in cluster["workerGroupSpecs"]:
                yield f"{name}/{group['groupName']}", group["template"]


def containers(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, template in pod_templates(objects):
        for container in template["spec"]["containers"]:
            yield f"{name}/{container['name']}", container


def image_tag(image: str) -> str:
    return image.rsplit(":", 1)[1]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


# --------------------------------------------------------------------------
# Images: Dockerfiles
# --------------------------------------------------------------------------


def dockerfile(service: str) -> str:
    return (REPO_ROOT / "services" / service / "Dockerfile").read_text()


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, with continuation lines joined and comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            result.append((word.upper(), " ".join(rest.split())))
    return result


# --------------------------------------------------------------------------
# Metrics queried by the alerts and the dashboard
# --------------------------------------------------------------------------

# Exported only where a renderer replica runs on a GPU (ray_renderer_gpu_memory_*): a scrape of a
# CPU-only stack lacks them.
GPU_ONLY_METRICS = frozenset({"ray_renderer_gpu_memory_used_bytes", "ray_renderer_gpu_memory_total_bytes"})

# Grafana's interval variables stand where PromQL wants a duration; any duration parses the same.
GRAFANA_INTERVAL = re.compile(r"\$__(?:rate_interval|interval|range)\b|\$\{__(?:rate_interval|interval|range)\}")
# A dashboard variable's query `label_values(<selector>, <label>)` (Grafana's, not PromQL).
LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<selector>.+),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$", re.DOTALL)


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects, exactly as written (`x_bucket`, not `x`).

    Parsed with `promql-parser` (Rust bindings of GreptimeTeam's PromQL parser): a syntax error raises
    ValueError. Every vector selector counts, also inside range vectors, subqueries and either side
    of binary operators; label values, function names and `by`/`on` labels are not metrics. A selector
    without a name, or whose `__name__` is a regular expression, raises ValueError: its metrics
    cannot be listed.
    """
    names: set[str] = set()
    unnamed: list[str] = []

    def visit(node: promql_parser.Expr) -> None:
        if not isinstance(node, promql_parser.VectorSelector):
            return
        if node.name:
            names.add(node.name)
            return
        matchers = list(node.matchers.matchers) + [m for group in node.matchers.or_matchers for m in group]
        by_name = [m.value for m in matchers if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal]
        if by_name and len(by_name) == len([m for m in matchers if m.name == "__name__"]):
            names.update(by_name)
        else:
            unnamed.append(str(node))

    promql_parser.walk(promql_parser.parse(expr), visit)
    if unnamed:
        raise ValueError(f"selectors without a fixed metric name in {expr!r}: {unnamed}")
    return names


def grafana_promql(expr: str) -> str:
    """A Grafana target's PromQL with the interval variables replaced by a duration, so that it parses."""
    return GRAFANA_INTERVAL.sub("5m", expr)


def grafana_dashboards(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The Grafana dashboards the rendered ConfigMaps carry: `<ConfigMap>/<key>` -> the parsed JSON."""
    dashboards = {}
    for configmap in find(objects, "ConfigMap"):
        for key, text in (configmap.get("data") or {}).items():
            if key.endswith(".json"):
                dashboards[f"{configmap['metadata']['name']}/{key}"] = json.loads(text)
    return dashboards


def dashboard_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard, including those inside (collapsed) rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every query a dashboard runs: its panels' targets and its query variables."""
    for panel in dashboard_panels(dashboard):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield f"panel {panel.get('title')!r} {target.get('refId')}", grafana_promql(target["expr"])
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        match = LABEL_VALUES.match(text)
        if match:
            yield f"variable {variable['name']!r}", grafana_promql(match["selector"])
        elif text.startswith("query_result(") and text.endswith(")"):
            yield f"variable {variable['name']!r}", grafana_promql(text[len("query_result(") : -1])
        elif text and not text.startswith("label_names("):
            raise ValueError(f"dashboard variable {variable['name']!r}: cannot read its query {text!r}")


def rule_queries(objects: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every alerting and recording rule of the rendered PrometheusRules."""
    for rule_object in find(objects, "PrometheusRule"):
        for group in rule_object["spec"]["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule.get("record")
                yield f"{rule_object['metadata']['name']} {group['name']} {name}", str(rule["expr"])


def queried_metrics(objects: list[dict[str, Any]]) -> set[str]:
    """Every metric name the rendered PrometheusRule expressions and Grafana dashboards query.

    Names as the queries write them: a histogram `x` is queried as `x_bucket`, `x_count` or `x_sum`,
    which is how a scrape shows it too. The renderer replicas' names carry Ray's `ray_` prefix;
    GPU_ONLY_METRICS are among them. Raises ValueError on a query that does not parse.
    """
    queries = list(rule_queries(objects))
    for dashboard in grafana_dashboards(objects).values():
        queries.extend(dashboard_queries(dashboard))
    names: set[str] = set()
    for where, expr in queries:
        try:
            names |= promql_metric_names(expr)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from error
    return names

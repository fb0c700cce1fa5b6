"""What an operator sees of one real order on the shared local stack: one trace across every service, JSON logs
that name the order and trace and never hold a secret or photo metadata, and metrics on every process.

The order is a partner's, with a webhook endpoint and selfies carrying EXIF camera and GPS tags; it runs through
the gateway, Kafka, two trainers, the renderer's Ray Serve replicas and the webhook sender.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from headshots_tools.demo import DEMO_PHOTOS, ApiClient
from headshots_tools.webhook_endpoint import WebhookEndpoint

pytestmark = pytest.mark.e2e

# Processes whose every log line is ours (Ray's own processes log elsewhere, in its session directory).
SERVICE_LOGS = ("gateway-web", "gateway-worker", "gateway-grpc", "trainer", "trainer-2", "renderer-dispatcher")
ORDER_SPANS = {"order", "photo.checks", "training", "render", "render.batch", "webhook.delivery"}


@dataclass
class ObservedOrder:
    order_id: str
    api_key: str
    webhook_secret: str
    exif_values: list[str]
    webhooks: list


def _selfies_with_exif(folder: Path, marker: str) -> tuple[list[Path], list[str]]:
    """The demo's portraits, each with camera, description and GPS tags whose values appear nowhere else."""
    values = [f"CamMake{marker}", f"CamModel{marker}", f"Description{marker}", f"Owner{marker}"]
    paths = []
    for source in DEMO_PHOTOS:
        image = Image.open(source)
        exif = image.getexif()
        exif[0x010F], exif[0x0110], exif[0x010E], exif[0x013B] = values  # Make, Model, ImageDescription, Artist
        gps = exif.get_ifd(0x8825)
        gps.update({1: "N", 2: (52.0, 31.0, 7.0), 3: "E", 4: (13.0, 24.0, 41.0)})
        path = folder / source.name
        image.save(path, exif=exif, quality=95)
        paths.append(path)
    return paths, values


@pytest.fixture(scope="module")
def observed_order(stack, tmp_path_factory) -> ObservedOrder:
    name = f"observed-{uuid.uuid4().hex[:6]}"
    api_key = stack.manage("create_api_key", name).strip()
    secret = stack.manage(
        "shell",
        "-c",
        f"from accounts.selectors import tenant_for_key; print(tenant_for_key({api_key!r}).webhook_secret)",
    ).strip()
    photos, exif_values = _selfies_with_exif(tmp_path_factory.mktemp("exif"), uuid.uuid4().hex[:10])
    client = ApiClient(stack.gateway_url, api_key)
    with WebhookEndpoint() as hook:
        order = client.json(
            "POST", "/v1/orders", 201, body={"package": "trial", "styles": ["corporate-navy"], "webhook_url": hook.url}
        )
        order_id = order["id"]
        upload = client.json("POST", f"/v1/orders/{order_id}/photos", 201, files=photos)
        assert all(r["accepted"] for r in upload["results"]), upload
        client.json("POST", f"/v1/orders/{order_id}/submit", 202)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            order = client.json("GET", f"/v1/orders/{order_id}", 200)
            delivered = [json.loads(r.body)["type"] for r in hook.requests]
            if order["state"] in ("completed", "failed") and "order.completed" in delivered:
                break
            time.sleep(1)
        assert order["state"] == "completed", order
        assert "order.completed" in delivered, delivered
        # Any headshot downloaded: the status and download routes then show in the metrics too.
        listing = client.json("GET", f"/v1/orders/{order_id}/headshots", 200)
        assert client.request("GET", listing["results"][0]["download_url"])[0] == 200
        return ObservedOrder(order_id, api_key, secret, exif_values, list(hook.requests))


def _order_trace(otlp_collector, order_id: str, expected: set[str], timeout_s: float = 60) -> list[dict]:
    """The spans of the order's trace once every expected span name arrived (exporters batch for 0.5 s)."""
    deadline = time.monotonic() + timeout_s
    while True:
        roots = otlp_collector.find("order", **{"order.id": order_id})
        spans = otlp_collector.trace(roots[0]["trace_id"]) if roots else []
        if expected <= {s["name"] for s in spans} or time.monotonic() > deadline:
            return spans
        time.sleep(0.5)


def test_one_trace_follows_the_order_through_every_service(observed_order, otlp_collector):
    spans = _order_trace(otlp_collector, observed_order.order_id, ORDER_SPANS)
    names = {s["name"] for s in spans}
    assert names >= ORDER_SPANS, f"missing spans {ORDER_SPANS - names}"
    by_name: dict[str, list[dict]] = {}
    for span in spans:
        by_name.setdefault(span["name"], []).append(span)
    (root,) = by_name["order"]
    # Recorded by the process that did the work, each a child within the one trace.
    assert {s["service"] for s in by_name["photo.checks"]} <= {"photo-checker", "photo-checker-2"}
    assert len(by_name["photo.checks"]) == len(DEMO_PHOTOS)
    assert {s["service"] for s in by_name["training"]} <= {"trainer", "trainer-2"}
    assert {s["service"] for s in by_name["render"]} == {"renderer-dispatcher"}
    assert {s["service"] for s in by_name["render.batch"]} == {"renderer"}
    assert {s["service"] for s in by_name["webhook.delivery"]} == {"gateway-worker"}
    assert all(s["parent_span_id"] == root["span_id"] for s in by_name["training"] + by_name["photo.checks"])
    render_ids = {s["span_id"] for s in by_name["render"]}
    assert all(s["parent_span_id"] in render_ids for s in by_name["render.batch"]), "batches hang under the render"
    types = {s["attributes"].get("webhook.event_type") for s in by_name["webhook.delivery"]}
    assert {"order.created", "order.photos_checked", "order.completed"} <= types


def _log_lines(stack) -> dict[str, list[str]]:
    lines = {}
    for name in SERVICE_LOGS:
        path = stack.logs_dir / f"{name}.log"
        if path.exists():
            lines[name] = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines


def test_every_log_line_is_json_naming_the_order_and_its_trace(observed_order, otlp_collector, stack):
    trace_id = otlp_collector.find("order", **{"order.id": observed_order.order_id})[0]["trace_id"]
    about_order: dict[str, list[dict]] = {}
    for name, lines in _log_lines(stack).items():
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                pytest.fail(f"{name}.log has a line that is not JSON: {line[:300]}")
            assert {"time", "level", "logger", "message", "service", "order_id", "tenant", "trace_id"} <= set(record)
            if observed_order.order_id in record["message"] or record["order_id"] == observed_order.order_id:
                about_order.setdefault(name, []).append(record)
    for name in ("gateway-web", "gateway-worker", "renderer-dispatcher"):
        records = about_order.get(name, [])
        assert records, f"{name} logged nothing about the order"
        assert all(r["order_id"] == observed_order.order_id for r in records), (name, records[:3])
    trained = about_order.get("trainer", []) + about_order.get("trainer-2", [])
    assert trained and all(r["order_id"] == observed_order.order_id for r in trained)
    # Inside the order's spans, lines carry its trace; the web's lines carry the tenant that called.
    assert any(r["trace_id"] == trace_id for r in trained)
    assert any(r["trace_id"] == trace_id for r in about_order["renderer-dispatcher"])
    assert any(r["tenant"] for r in about_order["gateway-web"])


def test_no_key_secret_or_photo_metadata_reaches_any_log(observed_order, stack):
    files = [p for p in stack.logs_dir.rglob("*") if p.is_file()]
    files += [p for p in stack.ray_dir.rglob("*") if p.is_file() and p.suffix in (".log", ".out", ".err")]
    assert len(files) > len(SERVICE_LOGS)
    secrets = [observed_order.api_key, observed_order.webhook_secret, *observed_order.exif_values]
    assert all(len(s) >= 12 for s in secrets)
    for path in files:
        text = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in text, f"{path} holds {secret[:6]}..."


def _scrape(target: str) -> dict[str, list]:
    with urllib.request.urlopen(f"http://{target}/metrics", timeout=10) as response:
        text = response.read().decode()
    families = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family.samples
        if family.type == "counter":  # the parser names a counter's family without its _total
            families[f"{family.name}_total"] = family.samples
    return families


def _scrapes(stack, timeout_s: float = 30) -> dict[str, dict[str, list]]:
    """Every process's metrics; Ray exports its replicas' metrics a few seconds after they are recorded."""
    deadline = time.monotonic() + timeout_s
    while True:
        scrapes = {name: _scrape(target) for name, target in stack.scrape_targets().items()}
        if "ray_renderer_batch_size" in scrapes["renderer"] or time.monotonic() > deadline:
            return scrapes
        time.sleep(2)


def _value(samples: list, name: str, **labels) -> float:
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_every_process_serves_the_metrics_an_operator_needs(observed_order, stack):
    scrapes = _scrapes(stack)
    web, worker, grpc_api = scrapes["gateway-web"], scrapes["gateway-worker"], scrapes["gateway-grpc"]
    route = "v1/orders/<uuid:order_id>"
    assert _value(web["http_server_request_duration_seconds"], "http_server_request_duration_seconds_count",
                  http_route=route, http_request_method="GET", http_response_status_code="200") >= 1  # fmt: skip
    assert _value(web["gateway_orders_created"], "gateway_orders_created_total") >= 1
    assert _value(grpc_api["grpc_server_handled"], "grpc_server_handled_total", grpc_code="OK") >= 1  # health checks
    assert _value(worker["gateway_webhook_attempts"], "gateway_webhook_attempts_total", outcome="delivered") >= 3
    assert _value(worker["gateway_orders_finished"], "gateway_orders_finished_total", state="completed") >= 1
    assert "gateway_outbox_backlog_messages" in worker and "gateway_outbox_oldest_age_seconds" in worker
    checkers = [scrapes[n] for n in ("photo-checker", "photo-checker-2")]
    checked = sum(
        _value(c["headshots_photos_checked"], "headshots_photos_checked_total", verdict="accepted") for c in checkers
    )
    assert checked >= len(DEMO_PHOTOS)
    groups = {s.labels["group"] for scrape in scrapes.values() for s in scrape.get("kafka_consumer_lag_records", [])}
    assert {"headshots-gateway", "headshots-trainer", "headshots-renderer", "headshots-photo-checker"} <= groups, groups
    trainers = [scrapes[n] for n in ("trainer", "trainer-2")]
    assert sum(_value(t["trainer_queue_wait_seconds"], "trainer_queue_wait_seconds_count") for t in trainers) >= 1
    assert sum(_value(t["trainer_step_seconds"], "trainer_step_seconds_count") for t in trainers) >= 1
    dispatcher, renderer = scrapes["renderer-dispatcher"], scrapes["renderer"]
    assert _value(dispatcher["renderer_images_delivered"], "renderer_images_delivered_total") >= 1
    assert _value(renderer["ray_renderer_batch_size"], "ray_renderer_batch_size_count") >= 1
    lookups = renderer["ray_renderer_adapter_lookups"]
    assert {(s.labels["tier"], s.labels["result"]) for s in lookups} >= {("device", "miss"), ("host", "miss")}
    assert "ray_renderer_queue_depth" in renderer


def _scraped_names(scrapes: dict[str, dict[str, list]]) -> set[str]:
    """Every family and sample name the stack serves (a histogram x serves x_bucket, x_count, x_sum)."""
    names: set[str] = set()
    for scrape in scrapes.values():
        for family, samples in scrape.items():
            names.add(family)
            names.update(s.name for s in samples)
    return names


def test_every_metric_the_charts_dashboard_and_alerts_query_is_served(observed_order, stack):
    deploy_support = _deploy_support()
    values = {"metrics": {"prometheusRule": {"enabled": True}, "grafanaDashboard": {"enabled": True}}}
    queried = deploy_support.queried_metrics(deploy_support.render(values))
    assert len(queried) >= 20
    served = _scraped_names(_scrapes(stack))
    # Labelled families show in a scrape once a value is recorded: these stay empty in a healthy run.
    never_recorded = {
        "renderer_images_rejected_total",
        "trainer_failures_total",
        "ray_renderer_adapter_evictions_total",
    }
    missing = queried - served - deploy_support.GPU_ONLY_METRICS - never_recorded
    assert not missing, f"the dashboard or alerts query metrics no process serves: {sorted(missing)}"


def _deploy_support():
    """tests/deploy's chart helpers (the chart rendered offline), imported by path: tests/deploy is not a package."""
    import importlib.util

    path = Path(__file__).parent / "deploy" / "deploy_support.py"
    spec = importlib.util.spec_from_file_location("deploy_support", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

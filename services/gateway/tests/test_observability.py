"""The gateway's metrics and request log: latency by route pattern and status, one JSON access line per request
with the order and tenant, the outbox gauges, webhook attempts by outcome, orders by final state."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from gateway import observability
from headshots_common import logs
from headshots_tools.webhook_endpoint import WebhookEndpoint
from outbox.models import OutboxMessage
from webhooks import services as webhooks

from .support import complete_order

ORDER_ROUTE = "v1/orders/<uuid:order_id>"


def _sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _requests(route: str, method: str, status: int) -> float:
    labels = {"http_route": route, "http_request_method": method, "http_response_status_code": str(status)}
    return _sample("http_server_request_duration_seconds_count", **labels)


@pytest.fixture
def access_lines():
    """The JSON lines the gateway's access logger writes, as dicts."""
    records: list[dict] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(json.loads(self.format(record)))

    handler = Collect()
    handler.setFormatter(logs.json_formatter("gateway-web"))
    handler.addFilter(logs.ContextFilter())
    observability.access_log.addHandler(handler)
    yield records
    observability.access_log.removeHandler(handler)


def test_requests_are_timed_by_route_pattern_and_status_and_logged_as_json(api, other_api, order, access_lines):
    path = f"/v1/orders/{order['id']}"
    ok, missing = _requests(ORDER_ROUTE, "GET", 200), _requests(ORDER_ROUTE, "GET", 404)
    assert api.get(path).status_code == 200
    assert other_api.get(path).status_code == 404  # another tenant's order: not found, counted by its code
    assert _requests(ORDER_ROUTE, "GET", 200) - ok == 1
    assert _requests(ORDER_ROUTE, "GET", 404) - missing == 1
    unmatched = _requests("unmatched", "GET", 404)
    assert api.get("/v1/no-such-thing").status_code == 404
    assert _requests("unmatched", "GET", 404) - unmatched == 1  # raw paths never become label values
    first, second = access_lines[-3:-1]
    assert first["http_route"] == ORDER_ROUTE and first["status"] == 200 and first["duration_ms"] >= 0
    assert first["order_id"] == order["id"] and first["tenant"] == str(api.tenant.pk)
    assert second["tenant"] == str(other_api.tenant.pk) and second["status"] == 404
    assert order["id"] not in first["message"], "the access line names the route, not the path"


def test_orders_created_and_finished_are_counted(api, order, django_capture_on_commit_callbacks):
    created = _sample("gateway_orders_created_total")
    completed = _sample("gateway_orders_finished_total", state="completed")
    deleted = _sample("gateway_orders_finished_total", state="deleted")
    # Counted once the transaction commits (a rolled-back order was never created).
    with django_capture_on_commit_callbacks(execute=True):
        other = api.post("/v1/orders", {"package": "trial", "styles": ["tech-grey"]}, format="json").json()
        complete_order(order["id"])
        assert api.delete(f"/v1/orders/{other['id']}").status_code in (200, 202)
    assert _sample("gateway_orders_created_total") - created == 1
    assert _sample("gateway_orders_finished_total", state="completed") - completed == 1
    assert _sample("gateway_orders_finished_total", state="deleted") - deleted == 1


def test_the_outbox_gauges_show_its_backlog_and_the_age_of_its_oldest_event(db):
    for key in ("a", "b", "c"):
        OutboxMessage.objects.create(topic="headshots.orders.v1", key=key, payload=b"event")
    OutboxMessage.objects.filter(key="a").update(created_at=timezone.now() - timedelta(minutes=7))
    OutboxMessage.objects.filter(key="c").update(sent_at=timezone.now())
    observability.sample_outbox()
    assert _sample("gateway_outbox_backlog_messages") == 2
    assert 7 * 60 <= _sample("gateway_outbox_oldest_age_seconds") < 8 * 60
    OutboxMessage.objects.update(sent_at=timezone.now())
    observability.sample_outbox()
    assert _sample("gateway_outbox_backlog_messages") == 0 and _sample("gateway_outbox_oldest_age_seconds") == 0


def test_webhook_attempts_are_counted_by_outcome(api, monkeypatch):
    config = dataclasses.replace(
        webhooks.CONFIG, webhook_allowed_networks=("127.0.0.0/8",), webhook_base_delay_s=0.0, webhook_max_attempts=2
    )
    monkeypatch.setattr(webhooks, "CONFIG", config)
    before = {o: _sample("gateway_webhook_attempts_total", outcome=o) for o in ("delivered", "retry", "failed")}
    with WebhookEndpoint(failures=1) as flaky, WebhookEndpoint(status=500) as broken:
        for url in (flaky.url, broken.url):
            api.post("/v1/orders", {"package": "trial", "styles": ["tech-grey"], "webhook_url": url}, format="json")
        while webhooks.deliver_due():
            pass
    after = {o: _sample("gateway_webhook_attempts_total", outcome=o) for o in before}
    # flaky: 503 then delivered; broken: 500 twice, given up at the second attempt.
    assert {o: after[o] - before[o] for o in before} == {"delivered": 1, "retry": 2, "failed": 1}

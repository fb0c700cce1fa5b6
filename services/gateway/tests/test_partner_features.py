"""What partners rely on: idempotent creation, quotas and rate limits, more renders, downloads as a zip."""

import io
import zipfile

import pytest
from django.core.cache import cache
from PIL import Image

from accounts.services import create_tenant_with_key
from gateway import ratelimit
from gateway.throttling import TenantRateThrottle
from headshots.v1 import common_pb2, events_pb2
from headshots_common import bus
from orders.models import Order, RenderRequest
from orders.services.pipeline_events import apply_pipeline_event
from outbox.models import OutboxMessage
from outbox.services import consume_once

from .support import complete_order

BODY = {"package": "basic", "styles": ["corporate-navy"]}


@pytest.fixture(autouse=True)
def fresh_rate_counters():
    cache.clear()
    yield
    cache.clear()


def test_same_idempotency_key_and_body_returns_the_first_response(api):
    first = api.post("/v1/orders", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post("/v1/orders", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1


def test_same_idempotency_key_with_another_body_is_refused(api):
    api.post("/v1/orders", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    response = api.post("/v1/orders", {**BODY, "package": "professional"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


def test_idempotency_keys_are_per_tenant(api, other_api):
    a = api.post("/v1/orders", BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    b = other_api.post("/v1/orders", BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert a.json()["id"] != b.json()["id"]


def test_a_used_up_monthly_quota_answers_429_with_retry_after(db):
    from rest_framework.test import APIClient

    tenant, key = create_tenant_with_key("small-partner", monthly_order_quota=1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.post("/v1/orders", BODY, format="json").status_code == 201
    response = client.post("/v1/orders", BODY, format="json")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "quota_exceeded"
    assert int(response.headers["Retry-After"]) > 0


def test_rate_limit_answers_429_with_retry_after(api, monkeypatch):
    monkeypatch.setattr(TenantRateThrottle, "THROTTLE_RATES", {"tenant": "3/min", "order_create": "100/min"})
    monkeypatch.setattr(ratelimit, "now_s", lambda: 1_800_000_030.0)  # mid-window: no boundary in the test
    statuses = [api.get("/v1/orders/00000000-0000-0000-0000-000000000000").status_code for _ in range(4)]
    assert statuses == [404, 404, 404, 429]
    response = api.get("/v1/orders/00000000-0000-0000-0000-000000000000")
    assert response.json()["error"]["code"] == "rate_limited"
    assert 0 < int(response.headers["Retry-After"]) <= 60


def test_more_renders_from_the_stored_adapter_without_retraining(api, order):
    complete_order(order["id"])
    response = api.post(f"/v1/orders/{order['id']}/renders", {"style": "executive-black", "count": 3}, format="json")
    assert response.status_code == 202, response.content
    render_id = response.json()["id"]
    assert api.get(f"/v1/orders/{order['id']}").json()["state"] == "rendering"
    [message] = [
        m
        for m in OutboxMessage.objects.all()
        if bus.payload_kind(bus.decode_event(bytes(m.payload))) == "render_requested"
    ]
    requested = bus.decode_event(bytes(message.payload)).render_requested
    assert (requested.render_id, list(requested.render_spec.style_ids), requested.existing_count) == (
        render_id,
        ["executive-black"],
        2,
    )
    assert not [
        m
        for m in OutboxMessage.objects.all()
        if bus.payload_kind(bus.decode_event(bytes(m.payload))) == "order_submitted"
    ]

    new = [
        common_pb2.Headshot(
            key=f"orders/{order['id']}/headshots/{render_id}/x-{i}.png",
            style_id="executive-black",
            seed=100 + i,
            width=64,
            height=64,
        )
        for i in range(3)
    ]
    consume_once(
        bus.new_event(order["id"], render_completed=events_pb2.RenderCompleted(headshots=new, render_id=render_id)),
        apply_pipeline_event,
    )
    body = api.get(f"/v1/orders/{order['id']}").json()
    assert (body["state"], body["counts"]["headshots"]) == ("completed", 5)
    assert RenderRequest.objects.get(pk=render_id).state == "completed"
    styles = api.get(f"/v1/orders/{order['id']}/headshots?style=executive-black").json()
    assert styles["count"] == 3


def test_renders_need_a_completed_order(api, order):
    response = api.post(f"/v1/orders/{order['id']}/renders", {"style": "executive-black", "count": 3}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "order_not_completed"


def test_headshots_are_paginated_and_downloadable_as_a_zip(api, order):
    complete_order(order["id"], n=3)
    page = api.get(f"/v1/orders/{order['id']}/headshots?limit=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    response = api.get(f"/v1/orders/{order['id']}/headshots.zip")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = archive.namelist()
    assert len(names) == 3 and all(n.endswith(".png") for n in names)
    assert Image.open(io.BytesIO(archive.read(names[0]))).size == (64, 64)

"""An order the quality gate left short of its count says so (order, report, webhook, e-mail), and keeps its
selfies and adapter until the person acts: renders the missing style, or accepts (the 35-day limit always holds)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import Tenant
from accounts.services import create_tenant_with_key
from gateway.blobs import blob_store
from headshots.partner.v1 import partner_api_pb2 as pb
from headshots.v1 import common_pb2, events_pb2
from headshots_common import blob_layout, bus
from orders.models import Order
from orders.policy import MAX_RETENTION
from orders.services.pipeline_events import apply_pipeline_event
from orders.services.retention import purge_expired
from outbox.services import consume_once
from webhooks.models import WebhookDelivery

from .support import complete_order, grpc_error_details

STYLES = ["corporate-navy", "tech-grey"]  # the trial package: 2 of each
SHORT = events_pb2.QualityReport(
    generated=18,
    delivered=1,
    rejected={"low_likeness": 15, "no_face": 2},
    gated=True,
    shortfall=[
        events_pb2.StyleShortfall(style_id="corporate-navy", wanted=2, delivered=1, main_reason="low_likeness"),
        events_pb2.StyleShortfall(style_id="tech-grey", wanted=2, delivered=0, main_reason="low_likeness"),
    ],
    top_up_rounds=2,
)
LIKENESS = "most did not look enough like you"
SHORTFALL = [
    {"style_id": "corporate-navy", "wanted": 2, "delivered": 1, "reason": "low_likeness", "message": LIKENESS},
    {"style_id": "tech-grey", "wanted": 2, "delivered": 0, "reason": "low_likeness", "message": LIKENESS},
]


@pytest.fixture
def consumer(db):
    """A consumer with an e-mail address, signed in."""
    tenant, key = create_tenant_with_key("Ada", kind=Tenant.Kind.CONSUMER)
    Tenant.objects.filter(pk=tenant.pk).update(email="ada@example.com")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def _new_order(client) -> str:
    response = client.post("/v1/orders", {"package": "trial", "styles": STYLES}, format="json")
    assert response.status_code == 201, response.content
    order_id = response.json()["id"]
    # The selfies and the adapter the retention policy is about.
    blob_store().put(blob_layout.photo_key(order_id, "p1"), b"jpeg")
    blob_store().put(blob_layout.adapter_key(order_id, 1), b"lora")
    return order_id


def _training_data(order_id: str) -> list[str]:
    return [
        k for k in blob_store().list(blob_layout.order_prefix(order_id)) if not blob_layout.is_headshot_key(order_id, k)
    ]


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 10, 10)).save(out, format="PNG")
    return out.getvalue()


def _render_more_completes(client, order_id: str, style: str, count: int, delivered: int) -> None:
    """Ask for `count` more in `style` and play the renderer delivering `delivered` of them."""
    render = client.post(f"/v1/orders/{order_id}/renders", {"style": style, "count": count}, format="json").json()
    headshots = []
    for i in range(delivered):
        key = blob_layout.headshot_key(order_id, render["id"], style, i)
        blob_store().put(key, _png())
        headshots.append(common_pb2.Headshot(key=key, style_id=style, seed=i, width=64, height=64, gated=True))
    quality = events_pb2.QualityReport(generated=count, delivered=delivered, gated=True)
    if delivered < count:
        quality.shortfall.add(style_id=style, wanted=count, delivered=delivered, main_reason="low_likeness")
    completed = events_pb2.RenderCompleted(headshots=headshots, render_id=render["id"], quality=quality)
    consume_once(bus.new_event(order_id, render_completed=completed), apply_pipeline_event)


def test_a_short_order_says_so_everywhere_and_the_email_does_not_say_ready(
    consumer, mailoutbox, django_capture_on_commit_callbacks
):
    order_id = _new_order(consumer)
    with django_capture_on_commit_callbacks(execute=True):
        complete_order(order_id, n=1, quality=SHORT)

    order = consumer.get(f"/v1/orders/{order_id}").json()
    assert order["state"] == "completed" and order["counts"]["headshots"] == 1
    assert (order["delivery"], order["shortfall"], order["accepted_at"]) == ("short", SHORTFALL, None)
    report = consumer.get(f"/v1/orders/{order_id}/report").json()
    assert (report["shortfall"], report["top_up_rounds"]) == (SHORTFALL, 2)

    [mail] = mailoutbox
    assert "ready" not in mail.subject.lower() and "ready" not in mail.body.lower()
    assert "1 of the 4 headshots" in mail.body
    assert "tech-grey: none of 2 (most did not look enough like you)" in mail.body
    assert "Render more" in mail.body and "Order again with more photos" in mail.body and "Accept" in mail.body
    hold_until = (Order.objects.get(pk=order_id).created_at + MAX_RETENTION).date().isoformat()
    assert hold_until in mail.body, "it says how long the photos are kept while the person decides"


def test_a_partners_completed_webhook_carries_the_shortfall(api):
    order_id = _new_order(api)
    Order.objects.filter(pk=order_id).update(webhook_url="https://partner.example/hooks")
    complete_order(order_id, n=1, quality=SHORT)
    [completed] = WebhookDelivery.objects.filter(order_id=order_id, event_type="order.completed")
    data = completed.payload["data"]
    assert (data["state"], data["delivery"], data["shortfall"], data["headshots"]) == (
        "completed",
        "short",
        SHORTFALL,
        1,
    )


def test_a_complete_order_is_ready_as_before(consumer, mailoutbox, django_capture_on_commit_callbacks):
    order_id = _new_order(consumer)
    with django_capture_on_commit_callbacks(execute=True):
        complete_order(order_id, n=4, quality=events_pb2.QualityReport(generated=5, delivered=4, gated=True))
    order = consumer.get(f"/v1/orders/{order_id}").json()
    assert (order["delivery"], order["shortfall"]) == ("complete", [])
    [mail] = mailoutbox
    assert mail.subject == "Your 4 headshots are ready"


def test_retention_waits_for_the_person_and_accepting_starts_the_clock(consumer):
    order_id = _new_order(consumer)
    complete_order(order_id, n=1, quality=SHORT)
    after_retention = timezone.now() + timedelta(hours=25)  # the default retention is 24 hours after delivery
    assert purge_expired(after_retention) == 0
    assert len(_training_data(order_id)) == 2, "selfies and adapter are kept while the person can still act"

    accepted = consumer.post(f"/v1/orders/{order_id}/accept")
    assert accepted.status_code == 200, accepted.content
    body = accepted.json()
    assert body["delivery"] == "short" and body["accepted_at"] is not None
    again = consumer.post(f"/v1/orders/{order_id}/accept").json()
    assert again["accepted_at"] == body["accepted_at"], "accepting twice changes nothing"

    assert purge_expired(timezone.now() + timedelta(hours=23)) == 0
    assert purge_expired(after_retention) == 1
    assert (
        _training_data(order_id) == [] and len(consumer.get(f"/v1/orders/{order_id}/headshots").json()["results"]) == 1
    )


def test_the_35_day_limit_holds_for_a_short_order_nobody_accepts(consumer):
    order_id = _new_order(consumer)
    complete_order(order_id, n=0, quality=SHORT)
    created = Order.objects.get(pk=order_id).created_at
    assert purge_expired(created + MAX_RETENTION - timedelta(minutes=1)) == 0
    assert purge_expired(created + MAX_RETENTION + timedelta(minutes=1)) == 1
    assert _training_data(order_id) == []


def test_rendering_the_missing_headshots_completes_the_delivery_and_starts_the_clock(consumer):
    order_id = _new_order(consumer)
    complete_order(order_id, n=1, quality=SHORT)
    _render_more_completes(consumer, order_id, "tech-grey", count=2, delivered=2)
    order = consumer.get(f"/v1/orders/{order_id}").json()
    assert order["delivery"] == "short" and order["shortfall"] == [SHORTFALL[0]], "tech-grey has its 2 now"
    assert purge_expired(timezone.now() + timedelta(hours=25)) == 0

    _render_more_completes(consumer, order_id, "corporate-navy", count=1, delivered=1)
    order = consumer.get(f"/v1/orders/{order_id}").json()
    assert (order["delivery"], order["shortfall"], order["counts"]["headshots"]) == ("complete", [], 4)
    assert purge_expired(timezone.now() + timedelta(hours=23)) == 0
    assert purge_expired(timezone.now() + timedelta(hours=25)) == 1


def test_a_render_that_delivers_nothing_does_not_email_ready(consumer, mailoutbox, django_capture_on_commit_callbacks):
    order_id = _new_order(consumer)
    complete_order(order_id, n=4, quality=events_pb2.QualityReport(generated=5, delivered=4, gated=True))
    with django_capture_on_commit_callbacks(execute=True):
        _render_more_completes(consumer, order_id, "executive-black", count=3, delivered=0)
    [mail] = mailoutbox
    assert "ready" not in mail.subject.lower() and "none of 3 passed" in mail.body
    assert consumer.get(f"/v1/orders/{order_id}").json()["delivery"] == "complete", "the order's own set is whole"


def test_only_a_short_delivery_can_be_accepted(consumer, other_api):
    order_id = _new_order(consumer)
    waiting = consumer.post(f"/v1/orders/{order_id}/accept")
    assert waiting.status_code == 409 and waiting.json()["error"]["code"] == "nothing_to_accept"
    complete_order(order_id, n=4, quality=events_pb2.QualityReport(generated=4, delivered=4, gated=True))
    complete = consumer.post(f"/v1/orders/{order_id}/accept")
    assert complete.status_code == 409 and complete.json()["error"]["code"] == "nothing_to_accept"
    assert other_api.post(f"/v1/orders/{order_id}/accept").status_code == 404


def test_grpc_shows_the_shortfall_and_accepts(partner):
    stub, auth = partner.stub, partner.auth
    order = stub.CreateOrder(pb.CreateOrderRequest(order=pb.Order(package="trial", style_ids=STYLES)), metadata=auth)
    with pytest.raises(Exception) as refused:
        stub.AcceptOrder(pb.AcceptOrderRequest(name=order.name), metadata=auth)
    assert grpc_error_details(refused.value)["ErrorInfo"].reason == "nothing_to_accept"
    complete_order(order.uid, n=1, quality=SHORT)

    got = stub.GetOrder(pb.GetOrderRequest(name=order.name), metadata=auth)
    assert got.delivery == pb.Order.DELIVERY_SHORT and not got.HasField("accept_time")
    assert [(s.style_id, s.wanted, s.delivered, s.reason, s.message) for s in got.shortfall] == [
        tuple(s.values()) for s in SHORTFALL
    ]
    report = stub.GetOrderReport(pb.GetOrderReportRequest(name=order.name), metadata=auth)
    assert [s.style_id for s in report.shortfall] == STYLES and report.top_up_rounds == 2
    accepted = stub.AcceptOrder(pb.AcceptOrderRequest(name=order.name), metadata=auth)
    assert accepted.delivery == pb.Order.DELIVERY_SHORT and accepted.HasField("accept_time")
    assert Order.objects.get(pk=order.uid).purge_at < timezone.now() + timedelta(hours=25)


def test_the_partner_cli_says_an_order_is_short_and_accepts_it(partner, tmp_path):
    """The installed `headshots` command in a subprocess, against the partner API server."""
    import json
    import os
    import subprocess
    import sys

    stub, auth = partner.stub, partner.auth
    order = stub.CreateOrder(pb.CreateOrderRequest(order=pb.Order(package="trial", style_ids=STYLES)), metadata=auth)
    complete_order(order.uid, n=1, quality=SHORT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADSHOTS_")}
    key = auth[0][1].removeprefix("Bearer ")
    env.update(HOME=str(tmp_path), COLUMNS="120", HEADSHOTS_API_KEY=key, HEADSHOTS_GRPC_TARGET=partner.target)

    def cli(*args: str) -> subprocess.CompletedProcess:
        command = [str(os.path.join(os.path.dirname(sys.executable), "headshots")), "order", *args, "--json"]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    watched = cli("watch", order.uid)
    assert watched.returncode == 0, watched.stderr
    assert "short tech-grey: 0 of 2 (most did not look enough like you)" in watched.stderr
    accepted = cli("accept", order.uid)
    assert accepted.returncode == 0, accepted.stderr
    body = json.loads(accepted.stdout.strip().splitlines()[-1])
    assert body["delivery"] == "DELIVERY_SHORT" and "accept_time" in body
    again = cli("accept", order.uid)
    assert again.returncode == 0
    refused = stub.CreateOrder(pb.CreateOrderRequest(order=pb.Order(package="trial", style_ids=STYLES)), metadata=auth)
    waiting = cli("accept", refused.uid)
    assert waiting.returncode == 3 and "nothing_to_accept" in waiting.stderr + waiting.stdout

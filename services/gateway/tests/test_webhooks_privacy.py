"""Signed webhooks with retries, verified by a real receiver; deletion and retention, end to end."""

import dataclasses
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from accounts.models import Tenant
from gateway.blobs import blob_store
from gateway.config import CONFIG
from headshots_common import blob_layout, bus
from headshots_tools.webhook_endpoint import WebhookEndpoint
from orders.models import DeletionReceipt, Order
from orders.services.retention import purge_expired
from outbox.models import OutboxMessage
from webhooks import services as webhooks
from webhooks.models import WebhookDelivery

from .support import complete_order


@pytest.fixture
def receiver():
    r = WebhookEndpoint(failures=1)
    yield r
    r.close()


@pytest.fixture(autouse=True)
def loopback_receivers(monkeypatch):
    """These tests' partner endpoints listen on 127.0.0.1, which webhooks reach only where an operator allows it."""
    monkeypatch.setattr(
        webhooks, "CONFIG", dataclasses.replace(webhooks.CONFIG, webhook_allowed_networks=("127.0.0.0/8",))
    )


def _deliver_all():
    while webhooks.deliver_due():
        pass


def test_webhooks_are_signed_retried_with_backoff_and_listed(api, receiver, monkeypatch):
    monkeypatch.setattr(webhooks, "CONFIG", dataclasses.replace(webhooks.CONFIG, webhook_base_delay_s=0.0))
    response = api.post(
        "/v1/orders", {"package": "trial", "styles": ["tech-grey"], "webhook_url": receiver.url}, format="json"
    )
    order_id = response.json()["id"]
    _deliver_all()  # first attempt fails with 503, the retry (zero backoff in this test) succeeds
    assert len(receiver.requests) == 2
    secret = Tenant.objects.get(pk=api.tenant.pk).webhook_secret
    headers, body = receiver.requests[-1].headers, receiver.requests[-1].body
    lower = {k.lower(): v for k, v in headers.items()}
    payload = Webhook(secret).verify(body, lower)  # raises if the signature is wrong
    assert payload["type"] == "order.created" and payload["data"]["order_id"] == order_id
    first_headers = {k.lower(): v for k, v in receiver.requests[0].headers.items()}
    assert lower["webhook-id"] == first_headers["webhook-id"], "retries keep the message id"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("created", "deleted"), lower)

    deliveries = api.get(f"/v1/orders/{order_id}/webhook-deliveries").json()["results"]
    assert deliveries[0]["state"] == "delivered" and deliveries[0]["attempts"] == 2
    assert [a["status_code"] for a in deliveries[0]["attempt_log"]] == [503, 204]


def test_failed_deliveries_back_off_exponentially_and_never_block_the_request(api):
    start = timezone.now()
    response = api.post(
        "/v1/orders",
        {"package": "trial", "styles": ["tech-grey"], "webhook_url": "http://127.0.0.1:9/unreachable"},
        format="json",
    )
    assert response.status_code == 201  # nothing was sent on the request path
    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == 0
    webhooks.deliver_due()
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.state == "pending"
    assert delivery.next_attempt_at >= start + timedelta(seconds=CONFIG.webhook_base_delay_s)
    assert webhooks.backoff_s(3) == 4 * CONFIG.webhook_base_delay_s
    assert webhooks.deliver_due() == 0, "not due again before its backoff"


def _upload_andcomplete_order(api, order_id, person_photos):
    api.post(
        f"/v1/orders/{order_id}/photos",
        {"files": [SimpleUploadedFile(p.name, p.read_bytes()) for p in person_photos]},
        format="multipart",
    )
    blob_store().put(blob_layout.adapter_key(str(order_id), 1), b"adapter bytes")
    complete_order(order_id, n=2)


def test_delete_purges_everything_and_returns_a_receipt(api, order, person_photos):
    _upload_andcomplete_order(api, order["id"], person_photos)
    prefix = f"orders/{order['id']}/"
    assert len(blob_store().list(prefix)) == 5 * 2 + 1 + 2  # each photo's JPEG and analysis, adapter, headshots
    response = api.delete(f"/v1/orders/{order['id']}")
    assert response.status_code == 200
    receipt = response.json()
    assert (
        receipt["photos_deleted"],
        receipt["headshots_deleted"],
        receipt["blobs_deleted"],
        receipt["remaining_blobs"],
    ) == (5, 2, 13, 0)
    assert blob_store().list(prefix) == []
    body = api.get(f"/v1/orders/{order['id']}").json()
    assert body["state"] == "deleted" and body["counts"] == {"photos_accepted": 0, "headshots": 0}
    assert api.get(f"/v1/orders/{order['id']}/headshots").json()["count"] == 0
    kinds = [bus.payload_kind(bus.decode_event(bytes(m.payload))) for m in OutboxMessage.objects.order_by("id")]
    assert kinds[-1] == "order_deleted", "trainer and renderer are told to drop their caches"
    assert api.delete(f"/v1/orders/{order['id']}").json()["id"] == receipt["id"], "deleting twice is harmless"


def test_retention_purges_selfies_and_adapter_but_keeps_delivered_headshots(api, order, person_photos):
    _upload_andcomplete_order(api, order["id"], person_photos)
    stored = Order.objects.get(pk=order["id"])
    assert stored.purge_at == stored.completed_at + timedelta(hours=24)
    assert purge_expired(now=timezone.now()) == 0, "nothing is due yet"
    assert purge_expired(now=stored.purge_at + timedelta(seconds=1)) == 1
    prefix = f"orders/{order['id']}/"
    assert all("/headshots/" in key for key in blob_store().list(prefix))
    receipt = DeletionReceipt.objects.get(order_id=order["id"])
    # Remaining: what retention purges and is still there (the headshots it keeps are not "remaining").
    assert (receipt.reason, receipt.photos_deleted, receipt.blobs_deleted, receipt.remaining_blobs) == (
        "retention",
        5,
        5 * 2 + 1,  # each photo's JPEG and analysis, the adapter
        0,
    )
    response = api.post(f"/v1/orders/{order['id']}/renders", {"style": "tech-grey", "count": 2}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "adapter_purged"
    assert purge_expired(now=stored.purge_at + timedelta(days=60)) == 0, "purged once"


def test_retention_never_exceeds_35_days(api):
    response = api.post(
        "/v1/orders", {"package": "trial", "styles": ["tech-grey"], "retention_hours": 36 * 24}, format="json"
    )
    assert response.status_code == 400
    order = api.post(
        "/v1/orders", {"package": "trial", "styles": ["tech-grey"], "retention_hours": 35 * 24}, format="json"
    ).json()
    stored = Order.objects.get(pk=order["id"])
    assert stored.purge_at <= stored.created_at + timedelta(days=35)

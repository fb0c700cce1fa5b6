"""No lost message leaves an order stuck: stalled orders get their work requested again, and what is announced
again changes nothing that was delivered."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from headshots.v1 import common_pb2, events_pb2
from headshots_common import blob_layout, bus
from orders.models import Order, Photo
from orders.services.pipeline_events import apply_pipeline_event
from orders.services.recovery import resubmit_stalled
from outbox.models import OutboxMessage
from outbox.services import consume_once
from webhooks.models import WebhookDelivery

from .support import complete_order

STALL = timedelta(minutes=5)


def _events(kind: str):
    events = [bus.decode_event(bytes(m.payload)) for m in OutboxMessage.objects.order_by("id")]
    return [getattr(e, kind) for e in events if bus.payload_kind(e) == kind]


def _age(order_id, by: timedelta) -> None:
    Order.objects.filter(pk=order_id).update(updated_at=timezone.now() - by)


def test_a_stalled_order_is_submitted_again_and_a_moving_one_is_left_alone(api, order, person_photos):
    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in person_photos]
    api.post(f"/v1/orders/{order['id']}/photos", {"files": files}, format="multipart")
    api.post(f"/v1/orders/{order['id']}/submit")
    assert resubmit_stalled(STALL) == 0, "it just moved"
    _age(order["id"], STALL + timedelta(seconds=1))
    assert resubmit_stalled(STALL) == 1
    first, again = _events("order_submitted")
    assert not first.resubmitted and again.resubmitted and list(again.photo_keys) == list(first.photo_keys)
    assert resubmit_stalled(STALL) == 0, "asked again no sooner than another stall period"


@pytest.mark.checker_processes  # none: the photos stay `checking`, as when their PhotoReceived was lost
def test_a_photo_whose_check_was_lost_is_announced_to_the_checker_again(api, order, person_photos):
    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in person_photos[:2]]
    response = api.post(
        f"/v1/orders/{order['id']}/photos", {"files": files}, format="multipart", HTTP_PREFER="respond-async"
    )
    assert response.status_code == 202, response.content
    checking = list(Photo.objects.filter(order_id=order["id"], state=Photo.State.CHECKING))
    assert len(checking) == 2 and len(_events("photo_received")) == 2
    assert resubmit_stalled(STALL) == 0, "just received: the checker has it"
    Photo.objects.filter(pk=checking[0].pk).update(received_at=timezone.now() - STALL - timedelta(seconds=1))
    assert resubmit_stalled(STALL) == 1
    again = _events("photo_received")[2:]
    assert [(e.photo_id, e.quarantine_key) for e in again] == [(str(checking[0].id), checking[0].quarantine_key)]
    assert resubmit_stalled(STALL) == 0, "announced again no sooner than another stall period"


def test_a_stalled_render_request_is_sent_again(api, order):
    complete_order(order["id"])
    render_id = api.post(f"/v1/orders/{order['id']}/renders", {"style": "tech-grey", "count": 2}, format="json").json()[
        "id"
    ]
    _age(order["id"], STALL * 2)
    assert resubmit_stalled(STALL) == 1
    assert [r.render_id for r in _events("render_requested")] == [render_id, render_id]
    assert not _events("order_submitted")


def test_an_outcome_announced_again_changes_nothing_delivered(api, order):
    order_with_hook = api.post(
        "/v1/orders",
        {"package": "trial", "styles": ["corporate-navy"], "webhook_url": "https://93.184.215.14/hooks"},
        format="json",
    ).json()
    order_id = order_with_hook["id"]
    complete_order(order_id)
    delivered = Order.objects.get(pk=order_id)
    completed_webhooks = WebhookDelivery.objects.filter(order_id=order_id, event_type="order.completed").count()
    key = blob_layout.headshot_key(order_id, blob_layout.PACK_RENDER_ID, "corporate-navy", 0)
    again = events_pb2.RenderCompleted(
        headshots=[common_pb2.Headshot(key=key, style_id="corporate-navy", seed=0, width=64, height=64)]
    )
    consume_once(bus.new_event(order_id, render_completed=again), apply_pipeline_event)
    after = Order.objects.get(pk=order_id)
    assert (after.completed_at, after.purge_at, after.headshots_ready) == (
        delivered.completed_at,
        delivered.purge_at,
        2,
    )
    assert WebhookDelivery.objects.filter(order_id=order_id, event_type="order.completed").count() == completed_webhooks

"""The outbox relay against the real broker, and the order state machine driven by pipeline events."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from kafka.errors import KafkaError

from headshots.v1 import common_pb2, events_pb2
from headshots_common import bus
from orders.models import Headshot, Order
from orders.services.pipeline_events import apply_pipeline_event
from outbox import services as outbox
from outbox.models import OutboxMessage


@pytest.fixture
def queued_order(api, order, person_photos):
    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in person_photos]
    api.post(f"/v1/orders/{order['id']}/photos", {"files": files}, format="multipart")
    # Checked in this process (conftest's photo_checker): their PhotoReceived events are not this test's business.
    OutboxMessage.objects.filter(topic=bus.PHOTOS_TOPIC).delete()
    assert api.post(f"/v1/orders/{order['id']}/submit").status_code == 202
    return order


def deliver(event):
    return outbox.consume_once(event, apply_pipeline_event)


def test_relay_publishes_the_outbox_to_kafka_in_order_and_marks_it_sent(queued_order, kafka_bootstrap):
    publisher = bus.Publisher(kafka_bootstrap)
    try:
        assert outbox.relay_batch(publisher) == 1
        assert outbox.relay_batch(publisher) == 0  # nothing is sent twice
    finally:
        publisher.close()
    assert OutboxMessage.objects.get().sent_at is not None
    consumer = bus.make_consumer(kafka_bootstrap, "test-relay", [bus.ORDERS_TOPIC])
    try:
        received = []
        for _ in range(40):
            for messages in consumer.poll(timeout_ms=500).values():
                received += [bus.decode_event(m.value) for m in messages]
            if any(e.order_id == queued_order["id"] for e in received):
                break
    finally:
        consumer.close()
    [event] = [e for e in received if e.order_id == queued_order["id"]]
    assert bus.payload_kind(event) == "order_submitted"


def test_relay_keeps_messages_while_the_broker_is_down_and_sends_them_once_it_is_back(queued_order, own_broker):
    publisher = bus.Publisher(own_broker.bootstrap)
    try:
        own_broker.stop()
        with pytest.raises(KafkaError):
            outbox.relay_batch(publisher, timeout_s=3)
        assert OutboxMessage.objects.get().sent_at is None  # nothing lost: a later relay turn sends it
        own_broker.start()
        assert outbox.relay_batch(publisher) == 1
    finally:
        publisher.close()
    assert OutboxMessage.objects.get().sent_at is not None


def test_pipeline_events_move_the_order_to_completed(api, queued_order):
    order_id = queued_order["id"]
    deliver(
        bus.new_event(order_id, training_progress=events_pb2.TrainingProgress(step=30, total_steps=60, eta_seconds=12))
    )
    body = api.get(f"/v1/orders/{order_id}").json()
    assert body["state"] == "training"
    assert body["progress"] == {"stage": "training", "percent": 35, "eta_s": 12.0}

    deliver(bus.new_event(order_id, training_completed=events_pb2.TrainingCompleted(adapter_key="k")))
    assert api.get(f"/v1/orders/{order_id}").json()["state"] == "rendering"

    headshots = [
        common_pb2.Headshot(
            key=f"orders/{order_id}/headshots/{i}.png", style_id="corporate-navy", seed=i, width=128, height=128
        )
        for i in range(4)
    ]
    completed = bus.new_event(order_id, render_completed=events_pb2.RenderCompleted(headshots=headshots))
    assert deliver(completed)
    body = api.get(f"/v1/orders/{order_id}").json()
    assert (body["state"], body["progress"]["percent"], body["counts"]["headshots"]) == ("completed", 100, 4)
    listing = api.get(f"/v1/orders/{order_id}/headshots").json()
    assert listing["count"] == 4
    assert listing["results"][0]["download_url"].endswith(".png")

    # A redelivered event is recognised and changes nothing.
    assert not deliver(completed)
    assert Headshot.objects.filter(order_id=order_id).count() == 4


def test_late_events_do_not_reopen_a_final_order(api, queued_order):
    order_id = queued_order["id"]
    deliver(
        bus.new_event(
            order_id,
            training_failed=events_pb2.TrainingFailed(
                reason=events_pb2.FAILURE_REASON_BAD_PHOTOS, message="no usable face"
            ),
        )
    )
    deliver(bus.new_event(order_id, training_progress=events_pb2.TrainingProgress(step=1, total_steps=60)))
    body = api.get(f"/v1/orders/{order_id}").json()
    assert (body["state"], body["failure_reason"]) == ("failed", "no usable face")
    assert Order.objects.get(pk=order_id).state == Order.State.FAILED

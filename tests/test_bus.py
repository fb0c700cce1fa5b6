"""The event bus against a real broker: sending survives a broker restart (a local one forgets everything)."""

from __future__ import annotations

import time
import uuid

from headshots.v1 import events_pb2
from headshots_common import bus


def _received_order_ids(bootstrap: str, topic: str, expected: int, timeout_s: float = 30.0) -> list[str]:
    consumer = bus.make_consumer(bootstrap, f"probe-{uuid.uuid4()}", [topic])
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                seen += [bus.decode_event(r.value).order_id for r in records]
    finally:
        consumer.close()
    return seen


def _progress(order_id: str) -> events_pb2.Event:
    return bus.new_event(order_id, training_progress=events_pb2.TrainingProgress(step=1, total_steps=2))


def test_a_publisher_keeps_publishing_after_the_broker_restarts(own_broker):
    publisher = bus.Publisher(own_broker.bootstrap)
    try:
        publisher.publish(bus.TRAINING_TOPIC, _progress("before"))
        own_broker.stop()
        own_broker.start()  # empty again, and it has forgotten every producer id
        # An idempotent producer would now be refused for good (its producer id is unknown) or hang.
        publisher.publish(bus.TRAINING_TOPIC, _progress("after"))
        assert _received_order_ids(own_broker.bootstrap, bus.TRAINING_TOPIC, 1) == ["after"]
    finally:
        publisher.close()


def test_events_sent_without_waiting_flow_again_after_a_restart(own_broker):
    publisher = bus.Publisher(own_broker.bootstrap)
    try:
        publisher.publish_soon(bus.TRAINING_TOPIC, _progress("before"))
        own_broker.stop()
        own_broker.start()
        deadline = time.monotonic() + 30
        received: list[str] = []
        # Sends without waiting may be lost while the broker is away (a later one supersedes them); later ones arrive.
        while "after" not in received and time.monotonic() < deadline:
            publisher.publish_soon(bus.TRAINING_TOPIC, _progress("after"))
            time.sleep(1.0)
            received = _received_order_ids(own_broker.bootstrap, bus.TRAINING_TOPIC, 1, timeout_s=5)
        assert "after" in received
    finally:
        publisher.close()

"""Two replicas' engines, each with its own listener on a real broker: a retrain and a deletion reach both."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer
from lora_helpers import sd_pipe

from headshots.v1 import events_pb2, renderer_service_pb2 as pb
from headshots_common import blob_layout, bus
from headshots_common.blobstore import LocalBlobStore
from renderer.adapter_events import AdapterEventListener
from renderer.engine import EngineSettings, RenderEngine


@pytest.fixture
def blobs(tmp_path, lora_files) -> LocalBlobStore:
    store = LocalBlobStore(tmp_path / "blobs")
    for name, path in lora_files.items():
        store.put(blob_layout.adapter_key(name, 1), path.read_bytes())
    return store


@pytest.fixture
def replicas(tiny_model, blobs, kafka_bootstrap):
    """Two engines, as two Serve replicas hold them, each listening for adapter events by itself."""
    bus.ensure_topics(kafka_bootstrap)
    engines = [RenderEngine(sd_pipe(tiny_model), blobs, EngineSettings(default_steps=1)) for _ in range(2)]
    listeners = []
    for n, engine in enumerate(engines):
        engine.replica_id = f"replica-{n}"
        listeners.append(AdapterEventListener(engine, kafka_bootstrap, engine.replica_id, sweep_s=3600).start())
    for listener in listeners:  # they start at the end of each partition: earlier events are not theirs
        assert listener.listening.wait(60)
    yield engines
    for listener in listeners:
        listener.stop()
    for engine in engines:
        engine.close()


def render(engine: RenderEngine, order_id: str) -> None:
    ref = pb.AdapterRef(adapter_id=order_id, adapter_key=blob_layout.adapter_key(order_id, 1))
    request = pb.RenderRequest(subject_phrase="sks person", adapter=ref, items=[pb.RenderItem(style_id="tech-grey")])
    assert len(list(engine.render(request))) == 1


def wait_until(condition, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the replicas did not catch up"
        time.sleep(0.1)


def test_a_retrained_adapter_leaves_every_replica_and_the_other_orders_stay(replicas, kafka_bootstrap):
    for engine in replicas:
        render(engine, "a1")
        render(engine, "a2")
    completed = events_pb2.TrainingCompleted(adapter_key=blob_layout.adapter_key("a1", 2))
    bus.Publisher(kafka_bootstrap).publish(bus.TRAINING_TOPIC, bus.new_event("a1", training_completed=completed))

    wait_until(lambda: all("a1" not in engine.adapters.resident() for engine in replicas))
    for engine in replicas:
        assert engine.adapters.resident() == ["a2"] and engine.adapters.slots.lookup("a1") is None
    # The same key again (a duplicate event) drops nothing that is current.
    for engine in replicas:
        assert engine.evict_replaced("a2", blob_layout.adapter_key("a2", 1)) == 0


def test_a_deletion_reaches_every_replica_and_each_reports_its_purge(replicas, kafka_bootstrap):
    for engine in replicas:
        render(engine, "a3")
    reports = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None, auto_offset_reset="latest")
    reports.subscribe([bus.RENDERING_TOPIC])
    reports.poll(timeout_ms=2000)  # assigned, at the end
    bus.Publisher(kafka_bootstrap).publish(
        bus.ORDERS_TOPIC, bus.new_event("a3", order_deleted=events_pb2.OrderDeleted())
    )

    wait_until(lambda: all("a3" not in engine.adapters.resident() for engine in replicas))
    purged_by: set[str] = set()
    deadline = time.monotonic() + 30
    while len(purged_by) < 2 and time.monotonic() < deadline:
        for records in reports.poll(timeout_ms=500).values():
            for record in records:
                event = bus.decode_event(record.value)
                if event.order_id == "a3" and bus.payload_kind(event) == "caches_purged":
                    assert event.caches_purged.entries > 0
                    purged_by.add(event.caches_purged.purged_by)
    reports.close()
    assert purged_by == {"renderer/replica-0", "renderer/replica-1"}


def test_a_deletion_right_after_the_broker_restarts_empty_still_evicts(tiny_model, blobs, own_broker):
    """A restarted local broker starts with empty logs: the listener's position lies past their end, and the
    deletion published right after the restart must still be read (from the new log's start)."""
    bus.ensure_topics(own_broker.bootstrap)
    engine = RenderEngine(sd_pipe(tiny_model), blobs, EngineSettings(default_steps=1))
    engine.replica_id = "replica-0"
    listener = AdapterEventListener(engine, own_broker.bootstrap, engine.replica_id, sweep_s=3600).start()
    try:
        assert listener.listening.wait(60)
        render(engine, "a4")
        publisher = bus.Publisher(own_broker.bootstrap)
        for n in range(6):  # other orders' deletions move the listener's positions well past 0
            publisher.publish(bus.ORDERS_TOPIC, bus.new_event(f"gone-{n}", order_deleted=events_pb2.OrderDeleted()))
        publisher.close()
        reports = KafkaConsumer(
            bus.RENDERING_TOPIC, bootstrap_servers=own_broker.bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        wait_until(
            lambda: any(bus.decode_event(r.value).order_id == "gone-5" for rs in reports.poll(500).values() for r in rs)
        )
        reports.close()  # the listener has read them all (it reports each deletion, even of nothing it held)
        own_broker.stop()
        own_broker.start()
        bus.wait_for_broker(own_broker.bootstrap)
        bus.ensure_topics(own_broker.bootstrap)
        publisher = bus.Publisher(own_broker.bootstrap)
        publisher.publish(bus.ORDERS_TOPIC, bus.new_event("a4", order_deleted=events_pb2.OrderDeleted()))
        publisher.close()
        wait_until(lambda: "a4" not in engine.adapters.resident(), timeout_s=60)
    finally:
        listener.stop()
        engine.close()

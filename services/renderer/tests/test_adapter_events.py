"""Two replicas' engines, each with its own listener on a real broker: a retrain and a deletion reach both."""

from __future__ import annotations

import logging
import time

import pytest
from kafka import KafkaConsumer
from lora_helpers import sd_pipe

from headshots.v1 import events_pb2, renderer_service_pb2 as pb
from headshots_common import blob_layout, bus
from headshots_common.blobstore import LocalBlobStore
from renderer.adapter_events import AdapterEventListener
from renderer.engine import EngineSettings, RenderEngine

LATE_AFTER_RESTART_S = 20.0  # a deletion this long after the broker's restart


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
        own_broker.process.kill()  # as in a crash (the chaos run's broker restart)
        own_broker.process.wait()
        own_broker.start()
        bus.wait_for_broker(own_broker.bootstrap)
        bus.ensure_topics(own_broker.bootstrap)
        publisher = bus.Publisher(own_broker.bootstrap)
        for order_id in ("a4", "gone-after-0", "gone-after-1"):
            publisher.publish(bus.ORDERS_TOPIC, bus.new_event(order_id, order_deleted=events_pb2.OrderDeleted()))
        wait_until(lambda: "a4" not in engine.adapters.resident(), timeout_s=60)
        # And every deletion after it: a consumer that lived through the restart stopped seeing new records
        # 10-20 s later (the chaos run's deletions 24 s after a broker restart went unreported).
        reports = KafkaConsumer(
            bus.RENDERING_TOPIC, bootstrap_servers=own_broker.bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        time.sleep(LATE_AFTER_RESTART_S)
        publisher.publish(bus.ORDERS_TOPIC, bus.new_event("late", order_deleted=events_pb2.OrderDeleted()))
        publisher.close()
        wait_until(
            lambda: any(bus.decode_event(r.value).order_id == "late" for rs in reports.poll(500).values() for r in rs),
            timeout_s=30,
        )
        reports.close()
    finally:
        listener.stop()
        engine.close()


def test_a_replica_announces_itself_while_it_runs_and_reports_what_it_still_holds(tiny_model, blobs, kafka_bootstrap):
    """The gateway waits for a purge report from every replica running at a deletion: each says it runs (and when
    it stops), and each report says what of the order it still holds (here nothing)."""
    bus.ensure_topics(kafka_bootstrap)
    reports = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None, auto_offset_reset="latest")
    reports.subscribe([bus.RENDERING_TOPIC])
    reports.poll(timeout_ms=2000)  # assigned, at the end
    engine = RenderEngine(sd_pipe(tiny_model), blobs, EngineSettings(default_steps=1))
    engine.replica_id = "replica-p"
    listener = AdapterEventListener(engine, kafka_bootstrap, engine.replica_id, sweep_s=1.0).start()
    seen: list[events_pb2.Event] = []

    def mine(kind: str) -> list:
        for records in reports.poll(timeout_ms=200).values():
            seen.extend(bus.decode_event(r.value) for r in records)
        payloads = [getattr(e, kind) for e in seen if bus.payload_kind(e) == kind]
        return [p for p in payloads if "renderer/replica-p" in (getattr(p, "holder", ""), getattr(p, "purged_by", ""))]

    try:
        assert listener.listening.wait(60)
        render(engine, "a2")
        bus.Publisher(kafka_bootstrap).publish(
            bus.ORDERS_TOPIC, bus.new_event("a2", order_deleted=events_pb2.OrderDeleted())
        )
        wait_until(lambda: len(mine("caches_purged")) >= 1 and len(mine("cache_holder_present")) >= 2)
        [purged] = mine("caches_purged")
        assert purged.entries > 0 and purged.entries_kept == 0
        assert all(p.interval_s == 1.0 and not p.stopping for p in mine("cache_holder_present"))
    finally:
        listener.stop()
        engine.close()
    wait_until(lambda: any(p.stopping for p in mine("cache_holder_present")))
    reports.close()


def test_without_a_broker_a_replica_warns_once_and_still_drops_a_deleted_orders_adapter(
    tiny_model, blobs, own_broker, caplog
):
    """The broker away: the listener says so once (a WARNING, no traceback, no ERROR from anyone) and keeps
    retrying with backoff, while the tombstone sweep, which reads the blob store, still evicts the adapter of an
    order deleted meanwhile; once the broker is back the replica reports that purge."""
    caplog.set_level(logging.DEBUG, logger="renderer.adapter_events")
    own_broker.stop()
    engine = RenderEngine(sd_pipe(tiny_model), blobs, EngineSettings(default_steps=1))
    engine.replica_id = "replica-offline"
    render(engine, "a3")
    listener = AdapterEventListener(engine, own_broker.bootstrap, engine.replica_id, sweep_s=0.5, connect_timeout_s=1)
    listener.start()
    try:
        blobs.mark_deleted("a3", "deleted while the broker was away")
        wait_until(lambda: "a3" not in engine.adapters.resident())
        wait_until(lambda: len([r for r in caplog.records if "still unreachable" in r.getMessage()]) >= 2)
        problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert [r.levelno for r in problems] == [logging.WARNING], [r.getMessage() for r in problems]
        assert problems[0].exc_info is None and own_broker.bootstrap in problems[0].getMessage()

        own_broker.start()  # starts empty: reading its log from the start sees every report
        reports = KafkaConsumer(
            bus.RENDERING_TOPIC, bootstrap_servers=own_broker.bootstrap, group_id=None, auto_offset_reset="earliest"
        )

        def purge_reported() -> bool:
            return any(
                bus.payload_kind(event := bus.decode_event(r.value)) == "caches_purged"
                and event.order_id == "a3"
                and event.caches_purged.purged_by == "renderer/replica-offline"
                and event.caches_purged.entries > 0
                for records in reports.poll(timeout_ms=500).values()
                for r in records
            )

        wait_until(purge_reported, timeout_s=60)
        reports.close()
    finally:
        listener.stop()
        engine.close()


def test_a_deletion_read_twice_is_reported_once_with_what_was_dropped(tiny_model, blobs, kafka_bootstrap):
    """After a rewind (or a duplicate from the publisher's retry) the same OrderDeleted comes again: its second
    reading must report nothing new (a report of 0 dropped would replace the first on the receipt)."""
    bus.ensure_topics(kafka_bootstrap)
    reports = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None, auto_offset_reset="latest")
    reports.subscribe([bus.RENDERING_TOPIC])
    reports.poll(timeout_ms=2000)  # assigned, at the end
    engine = RenderEngine(sd_pipe(tiny_model), blobs, EngineSettings(default_steps=1))
    publisher = bus.Publisher(kafka_bootstrap)
    try:
        render(engine, "a4")
        listener = AdapterEventListener(engine, kafka_bootstrap, "replica-d")  # its loop not started: driven here
        deleted = bus.new_event("a4", order_deleted=events_pb2.OrderDeleted())
        for _ in range(2):
            listener._handle(deleted)
            listener._report(publisher)
        purged: list[int] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for records in reports.poll(timeout_ms=500).values():
                for record in records:
                    event = bus.decode_event(record.value)
                    if event.order_id == "a4" and event.HasField("caches_purged"):
                        purged.append(event.caches_purged.entries)
        assert len(purged) == 1 and purged[0] > 0, purged
    finally:
        publisher.close()
        reports.close()
        engine.close()

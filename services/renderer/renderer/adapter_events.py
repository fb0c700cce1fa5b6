"""Every renderer replica forgets a deleted order's adapter, and a retrained adapter's old version.

These events are a broadcast, not work to share: each replica reads every partition of the orders and training
topics itself (no consumer group). On `OrderDeleted` it evicts the order's adapters from every tier of its own
engine and publishes `CachesPurged` for the deletion receipt; on `TrainingCompleted` it evicts any version of
the order's adapter other than the new one (a job that ran again after a takeover writes a new key), so no
replica keeps serving, or holding, the old weights. A periodic sweep checks the tombstones of the adapters it
holds, so a deletion whose event the replica missed (it was starting, or the broker restarted) is caught too.
`EvictAdapter` over gRPC reaches a single replica; this reaches all of them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from kafka import KafkaConsumer, TopicPartition

from headshots.v1 import events_pb2
from headshots_common import bus
from renderer.engine import RenderEngine

log = logging.getLogger(__name__)
TOPICS = (bus.ORDERS_TOPIC, bus.TRAINING_TOPIC)


class AdapterEventListener:
    def __init__(self, engine: RenderEngine, bootstrap: str, replica_id: str, sweep_s: float = 30.0):
        self.engine, self.bootstrap, self.replica_id, self.sweep_s = engine, bootstrap, replica_id, sweep_s
        self._stop = threading.Event()
        self.listening = threading.Event()  # set once it reads from the end of every partition
        self._unreported: Counter[str] = Counter()  # order id -> cache entries dropped, not yet reported
        self._positions: dict[TopicPartition, int] = {}  # the next offset to read, kept across reconnects
        self._thread = threading.Thread(target=self._run_forever, name="adapter-events", daemon=True)

    def start(self) -> AdapterEventListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self._run()
            except Exception:  # the broker away for a while: start over, the tombstone sweep covers the gap
                log.exception("adapter event listener failed; reconnecting")
                self._stop.wait(2.0)

    def _consumer(self) -> KafkaConsumer:
        # A position past the log's end means the log was truncated under it (a restarted local broker starts
        # empty): read the new log from its start, or the deletions published right after the restart are missed.
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        while not self._stop.is_set():
            partitions = {topic: consumer.partitions_for_topic(topic) for topic in TOPICS}
            if all(partitions.values()):
                assigned = [TopicPartition(topic, p) for topic, ps in partitions.items() for p in ps]
                consumer.assign(assigned)
                for partition in assigned:
                    if partition in self._positions:  # reconnecting: go on where it was, miss nothing meanwhile
                        consumer.seek(partition, self._positions[partition])
                    else:  # what happened before this replica started it never held
                        consumer.seek_to_end(partition)
                    # Resolves the lazy seek now (events from here on are seen), and is where to go on from.
                    self._positions[partition] = consumer.position(partition)
                self.listening.set()
                return consumer
            self._stop.wait(1.0)
        return consumer

    def _run(self) -> None:
        consumer = self._consumer()
        publisher = bus.Publisher(self.bootstrap)
        last_sweep = time.monotonic()
        try:
            while not self._stop.is_set():
                for partition, records in consumer.poll(timeout_ms=500).items():
                    for record in records:
                        self._handle(bus.decode_event(record.value))
                        self._positions[partition] = record.offset + 1
                self._rewind_truncated(consumer)
                if time.monotonic() - last_sweep >= self.sweep_s:
                    last_sweep = time.monotonic()
                    for order_id, entries in self.engine.evict_deleted().items():
                        self._unreported[order_id] += entries
                self._report(publisher)
        finally:
            consumer.close()
            publisher.close()

    def _rewind_truncated(self, consumer: KafkaConsumer) -> None:
        """A position past the log's end: the log was truncated under it (a restarted local broker starts empty,
        and does not always answer such a fetch with an error). Read the new log from its start."""
        for partition in consumer.assignment():
            end = consumer.highwater(partition)
            position = self._positions.get(partition)
            if end is not None and position is not None and position > end:
                log.warning("%s truncated (end %d, position %d): reading it from its start", partition, end, position)
                consumer.seek_to_beginning(partition)
                self._positions[partition] = 0

    def _handle(self, event) -> None:
        kind = bus.payload_kind(event)
        if kind == "order_deleted":
            self._unreported[event.order_id] += self.engine.evict_order(event.order_id)
        elif kind == "training_completed":
            dropped = self.engine.evict_replaced(event.order_id, event.training_completed.adapter_key)
            if dropped:
                log.info(
                    "order %s retrained: dropped %d entries of its previous adapter",
                    event.order_id,
                    dropped,
                    extra={"order_id": event.order_id},
                )

    def _report(self, publisher: bus.Publisher) -> None:
        """Publish what was purged; what the broker did not take stays to be reported on a later turn."""
        for order_id, entries in list(self._unreported.items()):
            purged = events_pb2.CachesPurged(purged_by=f"renderer/{self.replica_id}", entries=entries)
            publisher.publish(bus.RENDERING_TOPIC, bus.new_event(order_id, caches_purged=purged))
            del self._unreported[order_id]
            log.info("order %s deleted: dropped %d cache entries", order_id, entries, extra={"order_id": order_id})

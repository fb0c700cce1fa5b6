"""Every renderer replica forgets a deleted order's adapter, and says so.

Deletions are a broadcast, not work to share: each replica reads the orders topic's OrderDeleted events from
every partition itself (no consumer group), evicts the order's adapter from every tier of its own engine and
publishes `CachesPurged` for the deletion receipt. A periodic sweep checks the tombstones of the adapters
it holds, so a deletion whose event the replica missed (it was starting, or the broker restarted) is caught
too. `EvictAdapter` over gRPC reaches a single replica; this reaches all of them.
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


class DeletionListener:
    def __init__(self, engine: RenderEngine, bootstrap: str, replica_id: str, sweep_s: float = 30.0):
        self.engine, self.bootstrap, self.replica_id, self.sweep_s = engine, bootstrap, replica_id, sweep_s
        self._stop = threading.Event()
        self._unreported: Counter[str] = Counter()  # order id -> cache entries dropped, not yet reported
        self._thread = threading.Thread(target=self._run_forever, name="deletion-listener", daemon=True)

    def start(self) -> DeletionListener:
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
                log.exception("deletion listener failed; reconnecting")
                self._stop.wait(2.0)

    def _consumer(self) -> KafkaConsumer:
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False)
        while not self._stop.is_set():
            partitions = consumer.partitions_for_topic(bus.ORDERS_TOPIC)
            if partitions:
                assigned = [TopicPartition(bus.ORDERS_TOPIC, p) for p in partitions]
                consumer.assign(assigned)
                consumer.seek_to_end(*assigned)  # what happened before this replica started it never held
                return consumer
            self._stop.wait(1.0)
        return consumer

    def _run(self) -> None:
        consumer = self._consumer()
        publisher = bus.Publisher(self.bootstrap)
        last_sweep = time.monotonic()
        try:
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=500).values():
                    for record in records:
                        event = bus.decode_event(record.value)
                        if bus.payload_kind(event) == "order_deleted":
                            self._unreported[event.order_id] += self.engine.evict_order(event.order_id)
                if time.monotonic() - last_sweep >= self.sweep_s:
                    last_sweep = time.monotonic()
                    for order_id, entries in self.engine.evict_deleted().items():
                        self._unreported[order_id] += entries
                self._report(publisher)
        finally:
            consumer.close()
            publisher.close()

    def _report(self, publisher: bus.Publisher) -> None:
        """Publish what was purged; what the broker did not take stays to be reported on a later turn."""
        for order_id, entries in list(self._unreported.items()):
            purged = events_pb2.CachesPurged(purged_by=f"renderer/{self.replica_id}", entries=entries)
            publisher.publish(bus.RENDERING_TOPIC, bus.new_event(order_id, caches_purged=purged))
            del self._unreported[order_id]
            log.info("order %s deleted: dropped %d cache entries", order_id, entries)

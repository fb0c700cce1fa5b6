"""Every renderer replica forgets a deleted order's adapter, and a retrained adapter's old version.

These events are a broadcast, not work to share: each replica reads every partition of the orders and training
topics itself (no consumer group). On `OrderDeleted` it evicts the order's adapters from every tier of its own
engine and publishes `CachesPurged` for the deletion receipt, with what it still holds of the order (reported
again, all it dropped so far, until that is nothing); on `TrainingCompleted` it evicts any version of
the order's adapter other than the new one (a job that ran again after a takeover writes a new key), so no
replica keeps serving, or holding, the old weights. A periodic sweep checks the tombstones of the adapters it
holds, so a deletion whose event the replica missed (it was starting, or the broker restarted) is caught too. The
sweep reads the blob store, not the broker: it runs on its own thread whatever the broker's state, and what it dropped
is reported once the broker answers again. A broker that does not answer is said once (a warning), then retried with
backoff. `EvictAdapter` over gRPC reaches a single replica; this reaches all of them.

Every sweep interval, and when it stops, the replica announces itself (`CacheHolderPresent`): the gateway
waits for a purge report from every replica running when an order is deleted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from headshots.v1 import events_pb2
from headshots_common import bus
from renderer.engine import RenderEngine

log = logging.getLogger(__name__)
TOPICS = (bus.ORDERS_TOPIC, bus.TRAINING_TOPIC)
# kafka-python logs every failed connection attempt (ERROR and WARNING lines, many a minute while the broker is
# away); the listener, the replica's only Kafka client, says it once itself (`_Outage`).
KAFKA_CONNECTION_LOGGER = "kafka.net"


class _Outage:
    """Something the listener needs that does not answer: a WARNING when it stops answering, DEBUG lines while it
    stays away, an INFO line when it is back."""

    def __init__(self, what: str):
        self.what = what
        self.since: float | None = None

    def failed(self, exc: BaseException) -> None:
        if self.since is None:
            self.since = time.monotonic()
            log.warning("%s does not answer (%s); retrying with backoff", self.what, exc)
        else:
            log.debug("%s still unreachable after %.0f s (%s)", self.what, time.monotonic() - self.since, exc)

    def recovered(self) -> None:
        if self.since is not None:
            log.info("%s answers again after %.0f s", self.what, time.monotonic() - self.since)
            self.since = None


class _LogTruncated(Exception):
    """The broker's logs were truncated under the listener's positions: reconnect and read them from the start."""


HANDLED_EVENT_IDS = 10_000  # how many of the latest events' ids a replica remembers, to skip one read again
TRUNCATED_SETTLE_S = 2.0  # after a truncation, how long the restarted broker gets before the listener reconnects


class AdapterEventListener:
    def __init__(
        self,
        engine: RenderEngine,
        bootstrap: str,
        replica_id: str,
        sweep_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        max_backoff_s: float = 30.0,
    ):
        self.engine, self.bootstrap, self.replica_id, self.sweep_s = engine, bootstrap, replica_id, sweep_s
        self.connect_timeout_s, self.max_backoff_s = connect_timeout_s, max_backoff_s
        self.holder = f"renderer/{replica_id}"  # who purged, on the receipt
        self._stop = threading.Event()
        self.listening = threading.Event()  # set once it reads from the end of every partition
        self.connected = threading.Event()  # set while the broker answers it
        self._lock = threading.Lock()  # _unreported: the sweep thread adds to it, the event thread reports it
        self._unreported: Counter[str] = Counter()  # order id -> cache entries dropped, not yet reported
        self._still_held: dict[str, int] = {}  # order id -> entries dropped so far, of orders not wholly dropped
        self._positions: dict[TopicPartition, int] = {}  # the next offset to read, kept across reconnects
        self._handled: OrderedDict[str, None] = OrderedDict()  # the latest events' ids, oldest first
        self._broker = _Outage(f"the Kafka broker at {bootstrap}")
        self._threads = [
            threading.Thread(target=self._run_forever, name="adapter-events", daemon=True),
            threading.Thread(target=self._sweep_forever, name="adapter-tombstone-sweep", daemon=True),
        ]

    def start(self) -> AdapterEventListener:
        logging.getLogger(KAFKA_CONNECTION_LOGGER).setLevel(logging.CRITICAL)
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        if not self.connected.is_set():  # the broker away: the gateway stops waiting once the announcements stop
            log.info("replica %s stops without announcing it: the broker does not answer", self.replica_id)
            return
        publisher = None
        try:  # what this replica held goes with it: no deletion waits for its report any more
            publisher = bus.Publisher(self.bootstrap)
            self._announce(publisher, stopping=True)
        except Exception:
            log.warning("could not announce that replica %s stops", self.replica_id)
        finally:
            if publisher is not None:
                publisher.close()

    def _run_forever(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                self._run()
                continue  # it returns once stopped
            except _LogTruncated:  # a new consumer, once the restarted broker has its topics again
                self._stop.wait(TRUNCATED_SETTLE_S)
                continue
            except (KafkaError, OSError) as exc:  # the broker away for a while: the tombstone sweep covers the gap
                self._broker.failed(exc)
            except Exception:  # not the broker: a fault of ours, worth its traceback
                log.exception("adapter event listener failed; reconnecting")
            if self.connected.is_set():  # it had reached the broker: this outage's backoff starts again
                self.connected.clear()
                backoff = 1.0
            self._stop.wait(backoff)
            backoff = min(2 * backoff, self.max_backoff_s)

    def _sweep_forever(self) -> None:
        """Every sweep_s, evict the adapters of orders whose tombstone is in the blob store, broker or not."""
        blob_store = _Outage("the blob store (tombstone sweep)")
        while not self._stop.wait(self.sweep_s):
            try:
                dropped = self.engine.evict_deleted()
            except Exception as exc:  # the store away: the next sweep tries again
                blob_store.failed(exc)
                continue
            blob_store.recovered()
            with self._lock:
                for order_id, entries in dropped.items():
                    self._unreported[order_id] += entries

    def _consumer(self) -> KafkaConsumer:
        # A position past the log's end means the log was truncated under it (a restarted local broker starts
        # empty): read the new log from its start, or the deletions published right after the restart are missed.
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            bootstrap_timeout_ms=int(self.connect_timeout_s * 1000),
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
        try:
            publisher = bus.Publisher(self.bootstrap)
        except BaseException:
            consumer.close()
            raise
        try:
            self._announce(publisher)
            self.connected.set()
            self._broker.recovered()
            last_announced = time.monotonic()
            while not self._stop.is_set():
                for partition, records in consumer.poll(timeout_ms=500).items():
                    for record in records:
                        self._handle(bus.decode_event(record.value))
                        self._positions[partition] = record.offset + 1
                self._rewind_truncated(consumer)
                if time.monotonic() - last_announced >= self.sweep_s:
                    last_announced = time.monotonic()
                    with self._lock:
                        for order_id in self._still_held:  # reported as kept: say again what is left now
                            self._unreported[order_id] += 0
                    self._announce(publisher)
                self._report(publisher)
        finally:
            consumer.close()
            publisher.close()

    def _rewind_truncated(self, consumer: KafkaConsumer) -> None:
        """A position past the log's end: the log was truncated under it (a restarted local broker starts empty,
        and does not always answer such a fetch with an error). Read every log from its start (the broker lost
        them all: one whose new log already passed the old position looks whole), on a new consumer: one that
        lived through the restart keeps what it knew of the old topics and can stop seeing new records for good
        (seen with Tansu: every deletion 20 s after the restart missed). What the old consumer had read of the new
        logs comes again, and is skipped by its event id (`_handle`)."""
        for partition in consumer.assignment():
            end = consumer.highwater(partition)
            position = self._positions.get(partition)
            if end is not None and position is not None and position > end:
                log.warning(
                    "%s truncated (end %d, position %d): reading every log from its start", partition, end, position
                )
                self._positions = dict.fromkeys(self._positions, 0)
                raise _LogTruncated()

    def _handle(self, event) -> None:
        if event.event_id in self._handled:  # read again (a duplicate, or a rewind): a second report would say 0
            return
        self._handled[event.event_id] = None
        if len(self._handled) > HANDLED_EVENT_IDS:
            self._handled.popitem(last=False)
        kind = bus.payload_kind(event)
        if kind == "order_deleted":
            dropped = self.engine.evict_order(event.order_id)
            with self._lock:
                self._unreported[event.order_id] += dropped
        elif kind == "training_completed":
            dropped = self.engine.evict_replaced(event.order_id, event.training_completed.adapter_key)
            if dropped:
                log.info(
                    "order %s retrained: dropped %d entries of its previous adapter",
                    event.order_id,
                    dropped,
                    extra={"order_id": event.order_id},
                )

    def _announce(self, publisher: bus.Publisher, stopping: bool = False) -> None:
        present = events_pb2.CacheHolderPresent(holder=self.holder, interval_s=self.sweep_s, stopping=stopping)
        publisher.publish(bus.RENDERING_TOPIC, bus.new_event("", cache_holder_present=present))

    def _report(self, publisher: bus.Publisher) -> None:
        """Publish what was purged and what is still held; what the broker did not take stays to be reported on a
        later turn. A report counts all the replica dropped of the order so far."""
        with self._lock:
            unreported = list(self._unreported.items())
        for order_id, entries in unreported:
            dropped, kept = self._still_held.get(order_id, 0) + entries, self.engine.held(order_id)
            purged = events_pb2.CachesPurged(purged_by=self.holder, entries=dropped, entries_kept=kept)
            publisher.publish(bus.RENDERING_TOPIC, bus.new_event(order_id, caches_purged=purged))
            with self._lock:  # the sweep may have added to it meanwhile: keep that for the next turn
                self._unreported[order_id] -= entries
                if self._unreported[order_id] <= 0:
                    del self._unreported[order_id]
            if kept:
                self._still_held[order_id] = dropped
                log.warning("order %s deleted: %d entries still held", order_id, kept, extra={"order_id": order_id})
            else:
                self._still_held.pop(order_id, None)
            log.info("order %s deleted: dropped %d cache entries", order_id, dropped, extra={"order_id": order_id})

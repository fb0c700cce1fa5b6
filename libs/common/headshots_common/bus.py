"""The Kafka event bus: topics, protobuf event envelopes, producer and consumer factories.

Every message is a `headshots.v1.Event` keyed by order id, so all events of one
order land on one partition in order. Delivery is at least once; consumers
deduplicate on `event_id`.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterable, Sequence

from google.protobuf import timestamp_pb2
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from headshots.v1 import events_pb2
from headshots_common import tracing

log = logging.getLogger(__name__)

ORDERS_TOPIC = "headshots.orders.v1"
TRAINING_TOPIC = "headshots.training.v1"
RENDERING_TOPIC = "headshots.rendering.v1"
# PhotoReceived, keyed by photo id (not order id): one order's photos are checked side by side.
PHOTOS_TOPIC = "headshots.photos.v1"
ALL_TOPICS = (ORDERS_TOPIC, TRAINING_TOPIC, RENDERING_TOPIC, PHOTOS_TOPIC)
# Partitions of the topics a local broker gets; the photos topic has at least as many as checker processes run.
LOCAL_PARTITIONS = {PHOTOS_TOPIC: 8}

# (topic, key, value, headers): headers carry the order's trace context (headshots_common.tracing).
Record = tuple[str, str, bytes, list[tuple[str, bytes]]]

# Local brokers answer a consumer-group join only after a session timeout has
# passed; short timeouts keep local runs and tests quick. Production overrides.
LOCAL_SESSION_TIMEOUT_MS = 6000
LOCAL_HEARTBEAT_INTERVAL_MS = 1000


def new_event(order_id: str, **payload) -> events_pb2.Event:
    """An Event with a fresh id and timestamp; `payload` names exactly one oneof field."""
    if len(payload) != 1:
        raise ValueError("an event carries exactly one payload")
    occur_time = timestamp_pb2.Timestamp()
    occur_time.GetCurrentTime()
    event = events_pb2.Event(event_id=str(uuid.uuid4()), occur_time=occur_time, order_id=order_id)
    ((field, message),) = payload.items()
    getattr(event, field).CopyFrom(message)
    return event


def decode_event(raw: bytes) -> events_pb2.Event:
    event = events_pb2.Event()
    event.ParseFromString(raw)
    return event


def payload_kind(event: events_pb2.Event) -> str:
    """Name of the oneof field set, e.g. "training_completed"; "" when none is."""
    return event.WhichOneof("payload") or ""


def wait_for_broker(bootstrap: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000).close()
            return
        except (KafkaError, OSError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no Kafka broker answered at {bootstrap} within {timeout_s:.0f}s") from None
            time.sleep(0.3)


def ensure_topics(bootstrap: str, topics: Iterable[str] = ALL_TOPICS, partitions: int = 3) -> None:
    """Create the topics that do not exist yet (clusters create them through Strimzi instead), with `partitions`
    each, or more where LOCAL_PARTITIONS says so."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(t, num_partitions=max(partitions, LOCAL_PARTITIONS.get(t, 0)), replication_factor=1)
            for t in topics
            if t not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process created them meanwhile
                admin.create_topics(missing)
    finally:
        admin.close()


class Publisher:
    """Sends events: every write acknowledged by all in-sync replicas, in order per partition. Thread-safe.

    Not an idempotent producer: one whose broker forgot its producer id (a restarted broker, records
    expired) is refused for good, and a restarted local broker forgets them all. A retry after a lost
    acknowledgement can duplicate an event instead; every consumer deduplicates on `event_id` anyway.
    """

    def __init__(self, bootstrap: str):
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=False,
            max_in_flight_requests_per_connection=1,  # a retried batch never overtakes the next one
            linger_ms=5,
        )

    def publish(self, topic: str, event: events_pb2.Event, timeout_s: float = 30.0, traceparent: str = "") -> None:
        """Send one event and wait until the broker has it (with the order's trace in its headers, when given)."""
        record = (topic, event.order_id, event.SerializeToString(), tracing.kafka_headers(traceparent))
        self.publish_records([record], timeout_s)

    def publish_soon(self, topic: str, event: events_pb2.Event, traceparent: str = "") -> None:
        """Send without waiting, for events a later one supersedes (progress)."""
        self._producer.send(
            topic,
            key=event.order_id.encode(),
            value=event.SerializeToString(),
            headers=tracing.kafka_headers(traceparent),
        )

    def publish_records(self, records: Sequence[Record], timeout_s: float = 30.0) -> None:
        """Send (topic, key, value, headers) records in order and wait until the broker has them all.

        Sent a second time when the broker refused them (a batch it had queued before a broker restart
        fails): a record can then arrive twice, which consumers deduplicate.
        """
        for attempt in (1, 2):
            futures = [
                self._producer.send(topic, key=key.encode(), value=value, headers=headers)
                for topic, key, value, headers in records
            ]
            self._producer.flush(timeout=timeout_s)
            try:
                for future in futures:
                    future.get(timeout=timeout_s)
                return
            except KafkaError as exc:
                if attempt == 2:
                    raise
                log.warning("the broker refused %d records (%s); sending them again", len(records), exc)

    def close(self, timeout_s: float = 10.0) -> None:
        with contextlib.suppress(KafkaError):  # undelivered sends are the caller's to retry
            self._producer.close(timeout=timeout_s)


def make_consumer(bootstrap: str, group_id: str, topics: Iterable[str], listener=None, **overrides) -> KafkaConsumer:
    """A consumer that commits offsets only when the caller says the work is done.

    Message values are raw bytes: decode them with `decode_event`.
    """
    options = dict(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=LOCAL_SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=LOCAL_HEARTBEAT_INTERVAL_MS,
    )
    options.update(overrides)
    consumer = KafkaConsumer(**options)
    if listener is None:
        consumer.subscribe(list(topics))
    else:  # a ConsumerRebalanceListener, told when partitions are assigned or revoked
        consumer.subscribe(list(topics), listener=listener)
    return consumer

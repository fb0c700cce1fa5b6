"""The transactional outbox: enqueue inside the caller's transaction, relay to Kafka afterwards."""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django.utils import timezone

from headshots.v1 import events_pb2
from headshots_common import bus, tracing
from outbox.models import OutboxMessage, ProcessedEvent

log = logging.getLogger(__name__)


def enqueue(topic: str, event: events_pb2.Event, traceparent: str = "", key: str = "") -> OutboxMessage:
    """Record an event for publishing; call inside the transaction that makes the change.

    `traceparent`: the order's trace, which the record carries in its headers to the services that consume it.
    `key`: the Kafka key (the partition), the order id unless given.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("outbox.enqueue must run inside the transaction of the change it announces")
    return OutboxMessage.objects.create(
        topic=topic, key=key or event.order_id, payload=event.SerializeToString(), traceparent=traceparent
    )


def relay_batch(publisher: bus.Publisher, batch_size: int = 100, timeout_s: float = 30.0) -> int:
    """Publish the oldest unsent messages in order and mark them sent; returns how many.

    A crash between publishing and marking re-sends those messages: consumers
    deduplicate on event_id, so at-least-once is safe.
    """
    with transaction.atomic():
        rows = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True)
            .order_by("id")[:batch_size]
        )
        if not rows:
            return 0
        # Raises if the broker refused: the rows stay unsent.
        publisher.publish_records(
            [(row.topic, row.key, bytes(row.payload), tracing.kafka_headers(row.traceparent)) for row in rows],
            timeout_s,
        )
        OutboxMessage.objects.filter(id__in=[row.id for row in rows]).update(sent_at=timezone.now())
    return len(rows)


def consume_once(event: events_pb2.Event, handler) -> bool:
    """Apply `handler(event)` exactly once per event id, atomically with recording the id."""
    with transaction.atomic():
        _, created = ProcessedEvent.objects.get_or_create(event_id=event.event_id)
        if not created:
            log.info("skipping duplicate event %s", event.event_id)
            return False
        handler(event)
    return True


def pending_count() -> int:
    return OutboxMessage.objects.filter(sent_at__isnull=True).count()

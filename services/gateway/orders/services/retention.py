"""Deletion on request and the retention policy: photos, adapter and headshots purged, with a receipt.

A deleted order gets a tombstone in the blob store first: from then on no service can write under the
order's prefix, and a write already in flight is taken back (`blobstore.OrderDeleted`). Every process that
holds the order's data in memory drops it on the OrderDeleted event and reports it (`CachesPurged`), which
the receipt lists. For a while after the deletion the retention sweep purges the prefix again, so that
not even a writer killed between its write and taking it back leaves a blob behind.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from gateway.blobs import blob_store
from gateway.observability import ORDERS_FINISHED
from headshots.v1 import events_pb2
from headshots_common import blob_layout, bus
from orders.models import DeletionReceipt, Order
from orders.policy import REPURGE_WINDOW
from outbox import services as outbox
from webhooks import services as webhooks

log = logging.getLogger(__name__)


def _purge_blobs(order: Order, keep_headshots: bool) -> tuple[list[str], int]:
    """Delete the order's blobs (all, or all but the headshots and the training job record); returns the
    deleted keys and how many remain."""
    order_id = str(order.id)
    prefix = blob_layout.order_prefix(order_id)
    store = blob_store()
    # After retention the order lives on with its headshots; its job record (no personal data) stays, so a
    # redelivered order message is recognised as trained and never trains again.
    kept = {blob_layout.training_record_key(order_id)} if keep_headshots else set()
    keys = [
        k
        for k in store.list(prefix)
        if k not in kept and not (keep_headshots and blob_layout.is_headshot_key(order_id, k))
    ]
    for key in keys:
        store.delete(key)
    return keys, len(store.list(prefix)) - sum(1 for k in kept if store.exists(k))


def _receipt(
    order: Order, reason: str, keys: list[str], remaining: int, photos: int, headshots: int
) -> DeletionReceipt:
    digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()
    return DeletionReceipt.objects.create(
        tenant_id=order.tenant_id,
        order_id=order.id,
        reason=reason,
        photos_deleted=photos,
        headshots_deleted=headshots,
        blobs_deleted=len(keys),
        blob_keys_sha256=digest,
        remaining_blobs=remaining,
    )


def _announce_purge(order: Order) -> None:
    """Every service drops what it holds of the order (caches included) on this event."""
    outbox.enqueue(
        bus.ORDERS_TOPIC,
        bus.new_event(str(order.id), order_deleted=events_pb2.OrderDeleted(tenant_id=str(order.tenant_id))),
        order.traceparent,
    )


def delete_order(order: Order) -> DeletionReceipt:
    """Purge photos, adapter and headshots now; the tombstone stops every later write, in-flight ones too."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.state == Order.State.DELETED:
            receipt = DeletionReceipt.objects.filter(order_id=order.id).order_by("-deleted_at").first()
            assert receipt is not None  # a deleted order always has its receipt
            return receipt
        blob_store().mark_deleted(str(order.id), "user_request")  # first: nothing can be written back
        photos, headshots = order.photos.count(), order.headshots.count()
        order.photos.all().delete()
        order.headshots.all().delete()
        keys, remaining = _purge_blobs(order, keep_headshots=False)
        order.state, order.progress_stage, order.deleted_at = Order.State.DELETED, "deleted", timezone.now()
        transaction.on_commit(lambda: ORDERS_FINISHED.labels("deleted").inc())
        order.adapter_key, order.purge_at, order.photos_accepted, order.headshots_ready = "", None, 0, 0
        order.readiness = {}  # it names the photos' files
        order.save()
        _announce_purge(order)
        receipt = _receipt(order, "user_request", keys, remaining, photos, headshots)
        webhooks.enqueue(order, "order.deleted", {"receipt_id": str(receipt.id), "blobs_deleted": len(keys)})
    return receipt


def purge_training_data(order: Order) -> DeletionReceipt:
    """Retention: the selfies and the adapter go; the delivered headshots stay until the user deletes them."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        photos = order.photos.count()
        order.photos.all().delete()
        keys, remaining = _purge_blobs(order, keep_headshots=True)
        order.training_data_purged_at, order.purge_at, order.photos_accepted = timezone.now(), None, 0
        order.readiness = {}  # it names the photos' files
        order.save()
        _announce_purge(order)
        return _receipt(order, "retention", keys, remaining, photos, 0)


def repurge_deleted(now: datetime | None = None) -> int:
    """Purge the prefixes of orders deleted within REPURGE_WINDOW again; returns how many blobs were found.

    The tombstone makes every write after the deletion fail, and a write in flight takes itself back; only a
    writer killed between its write and that check could leave a blob, and this sweep removes it.
    """
    now = now or timezone.now()
    found = 0
    recent = Order.objects.filter(state=Order.State.DELETED, deleted_at__gte=now - REPURGE_WINDOW)
    for order_id in recent.values_list("id", flat=True).iterator():
        leftovers = blob_store().delete_prefix(blob_layout.order_prefix(str(order_id)))
        if leftovers:
            log.warning(
                "removed %d blobs written back under deleted order %s",
                leftovers,
                order_id,
                extra={"order_id": str(order_id)},
            )
        found += leftovers
    return found


def purge_expired(now: datetime | None = None) -> int:
    """Run the retention policy for every order whose time has come; returns how many were purged."""
    due = Order.objects.filter(purge_at__lte=now or timezone.now()).exclude(state=Order.State.DELETED)
    count = 0
    for order in due.iterator():
        purge_training_data(order)
        count += 1
    return count


def record_cache_purge(order_id: str, purged_by: str, entries: int, at: datetime | None = None) -> None:
    """Add a process's report of dropping the order's cached data to the order's latest receipt."""
    with transaction.atomic():
        receipt = DeletionReceipt.objects.select_for_update().filter(order_id=order_id).order_by("-deleted_at").first()
        if receipt is None:
            return
        if any(p["purged_by"] == purged_by for p in receipt.cache_purges):
            return  # a redelivered report
        purged_at = (at or timezone.now()).isoformat().replace("+00:00", "Z")
        receipt.cache_purges = [
            *receipt.cache_purges,
            {"purged_by": purged_by, "entries": entries, "purged_at": purged_at},
        ]
        receipt.save(update_fields=["cache_purges"])

"""Deletion on request and the retention policy: photos, adapter and headshots purged, with a receipt."""

from __future__ import annotations

import hashlib

from django.db import transaction
from django.utils import timezone

from gateway.blobs import blob_store
from headshots.v1 import events_pb2
from headshots_common import blob_layout, bus
from orders.models import DeletionReceipt, Order
from outbox import services as outbox
from webhooks import services as webhooks


def _purge_blobs(order: Order, keep_headshots: bool) -> tuple[list[str], int]:
    """Delete the order's blobs (all, or all but headshots); returns the deleted keys and how many remain."""
    order_id = str(order.id)
    prefix = blob_layout.order_prefix(order_id)
    store = blob_store()
    keys = [k for k in store.list(prefix) if not (keep_headshots and blob_layout.is_headshot_key(order_id, k))]
    for key in keys:
        store.delete(key)
    return keys, len(store.list(prefix))


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


def delete_order(order: Order) -> DeletionReceipt:
    """Purge photos, adapter and headshots now; every service drops its caches on the OrderDeleted event."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.state == Order.State.DELETED:
            return DeletionReceipt.objects.filter(order_id=order.id).order_by("-deleted_at").first()
        photos, headshots = order.photos.count(), order.headshots.count()
        order.photos.all().delete()
        order.headshots.all().delete()
        keys, remaining = _purge_blobs(order, keep_headshots=False)
        order.state, order.progress_stage, order.deleted_at = Order.State.DELETED, "deleted", timezone.now()
        order.adapter_key, order.purge_at, order.photos_accepted, order.headshots_ready = "", None, 0, 0
        order.save()
        outbox.enqueue(
            bus.ORDERS_TOPIC,
            bus.new_event(str(order.id), order_deleted=events_pb2.OrderDeleted(tenant_id=str(order.tenant_id))),
        )
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
        order.save()
        outbox.enqueue(
            bus.ORDERS_TOPIC,
            bus.new_event(str(order.id), order_deleted=events_pb2.OrderDeleted(tenant_id=str(order.tenant_id))),
        )
        return _receipt(order, "retention", keys, remaining, photos, 0)


def purge_expired(now=None) -> int:
    """Run the retention policy for every order whose time has come; returns how many were purged."""
    due = Order.objects.filter(purge_at__lte=now or timezone.now()).exclude(state=Order.State.DELETED)
    count = 0
    for order in due.iterator():
        purge_training_data(order)
        count += 1
    return count

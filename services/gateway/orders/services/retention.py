"""Deletion on request and the retention policy: photos, adapter and headshots purged, with a receipt.

Retention: the selfies and the adapter go `retention_hours` after delivery (`purge_time`). A delivery the
quality gate left short holds them until the person acts (renders the missing images, or accepts the set as it
is), never past MAX_RETENTION after the order was created.

A deleted order gets a tombstone in the blob store first: from then on no service can write under the
order's prefix, and a write already in flight is taken back (`blobstore.OrderDeleted`). Every process that
holds the order's data in memory drops it on the OrderDeleted event and reports it (`CachesPurged`), which
the receipt lists. For a while after the deletion the retention sweep purges the prefix again, so that
not even a writer killed between its write and taking it back leaves a blob behind.

The receipt says what is left, honestly: `remaining_blobs` is what listing the order's prefix finds (after the
purge, on every DELETE that shows the receipt again, and after each re-purge), and the holders that were
running at the deletion (`CacheHolder`) and have not reported, or still hold something, keep it incomplete.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from gateway.blobs import blob_store
from gateway.errors import Conflict
from gateway.observability import count_order_finished
from headshots.v1 import events_pb2
from headshots_common import blob_layout, bus
from orders.models import CacheHolder, DeletionReceipt, Order, Photo
from orders.policy import CACHE_HOLDER_SILENT_INTERVALS, MAX_RETENTION, REPURGE_WINDOW
from orders.services.photos import sweep_quarantine
from outbox import services as outbox
from webhooks import services as webhooks
from webhooks.models import WebhookDelivery

log = logging.getLogger(__name__)

# Why a receipt was written: the user's DELETE, or the retention policy (selfies and adapter only).
USER_REQUEST, RETENTION = "user_request", "retention"
# A team's policy deleted a member's whole order N hours after delivery (`teams.services.enforce_retention`).
TEAM_POLICY = "team_policy"


def purge_time(order: Order, delivered_at: datetime) -> datetime:
    """When the order's selfies and adapter are purged, for an order delivered (or accepted) at `delivered_at`:
    `retention_hours` later, or while the person still decides about a short delivery, not before the limit;
    never later than MAX_RETENTION after the order was created."""
    limit = order.created_at + MAX_RETENTION
    if order.awaiting_decision:
        return limit
    return min(delivered_at + timedelta(hours=order.retention_hours), limit)


def accept_delivery(order: Order) -> Order:
    """The person takes a short delivery as it is: the retention clock starts now. Accepting again changes nothing."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.state == Order.State.DELETED or order.delivery != "short":
            raise Conflict(
                "nothing_to_accept",
                "only an order delivered short of its headshots can be accepted "
                f"(it is {order.state}, delivery {order.delivery or 'not yet made'})",
            )
        if order.accepted_at is None:
            order.accepted_at = timezone.now()
            if order.training_data_purged_at is None:
                order.purge_at = purge_time(order, order.accepted_at)
            order.save()
    return order


def _purgeable(order_id: str, keep_headshots: bool) -> list[str]:
    """The order's blobs as the store lists them now: all of them, or all but what retention keeps.

    Every key of an order lies under its prefix (blob_layout; tests/test_blob_layout.py checks it)."""
    # After retention the order lives on with its headshots; its job record (no personal data) stays, so a
    # redelivered order message is recognised as trained and never trains again.
    kept = {blob_layout.training_record_key(order_id)} if keep_headshots else set()
    return [
        k
        for k in blob_store().list(blob_layout.order_prefix(order_id))
        if k not in kept and not (keep_headshots and blob_layout.is_headshot_key(order_id, k))
    ]


def _purge_blobs(order: Order, keep_headshots: bool) -> list[str]:
    """Delete the order's blobs (all, or all but the headshots and the training job record); the deleted keys."""
    keys = _purgeable(str(order.id), keep_headshots)
    for key in keys:
        blob_store().delete(key)
    return keys


def _running_cache_holders(now: datetime) -> list[str]:
    """The processes that may hold orders in memory and are running: announced lately, and not stopped."""
    holders = CacheHolder.objects.filter(stopped=False).order_by("name")
    return [
        h.name
        for h in holders
        if now - h.last_seen_at <= timedelta(seconds=CACHE_HOLDER_SILENT_INTERVALS * h.interval_s)
    ]


def _receipt(order: Order, reason: str, keys: list[str], photos: int, headshots: int) -> DeletionReceipt:
    digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()
    now = timezone.now()
    return DeletionReceipt.objects.create(
        tenant_id=order.tenant_id,
        order_id=order.id,
        reason=reason,
        photos_deleted=photos,
        headshots_deleted=headshots,
        blobs_deleted=len(keys),
        blob_keys_sha256=digest,
        remaining_blobs=len(_purgeable(str(order.id), keep_headshots=reason == RETENTION)),
        checked_at=now,
        cache_holders_expected=[] if order.test_mode else _running_cache_holders(now),
    )


def _recount(receipt: DeletionReceipt) -> DeletionReceipt:
    """List the order's prefix again: what is left now, not what the purge thought it left."""
    receipt.remaining_blobs = len(_purgeable(str(receipt.order_id), keep_headshots=receipt.reason == RETENTION))
    receipt.checked_at = timezone.now()
    receipt.save(update_fields=["remaining_blobs", "checked_at"])
    return receipt


def _announce_purge(order: Order) -> None:
    """Every service drops what it holds of the order (caches included) on this event; the trainer and renderer
    never held a test order (`test_mode`), so they hear nothing of one."""
    if order.test_mode:
        return
    outbox.enqueue(
        bus.ORDERS_TOPIC,
        bus.new_event(str(order.id), order_deleted=events_pb2.OrderDeleted(tenant_id=str(order.tenant_id))),
        order.traceparent,
    )


def _stored_photos(order: Order) -> int:
    """The order's photos the store holds (or held) bytes of: all but the rejected, of which only a verdict is kept."""
    return order.photos.exclude(state=Photo.State.REJECTED).count()


def _forget_filenames(order: Order) -> None:
    """The order's webhooks keep no photo's file name once its photos are gone (`order.photos_checked` named them)."""
    for delivery in WebhookDelivery.objects.filter(order_id=order.id, event_type="order.photos_checked"):
        for rejection in delivery.payload.get("data", {}).get("rejections", []):
            rejection.pop("filename", None)
        delivery.save(update_fields=["payload"])


def delete_order(order: Order, reason: str = USER_REQUEST) -> DeletionReceipt:
    """Purge photos, adapter and headshots now; the tombstone stops every later write, in-flight ones too.
    `reason`: who asked, as the receipt says (USER_REQUEST, or TEAM_POLICY)."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.state == Order.State.DELETED:
            receipt = DeletionReceipt.objects.filter(order_id=order.id).order_by("-deleted_at").first()
            assert receipt is not None  # a deleted order always has its receipt
            return _recount(receipt)
        blob_store().mark_deleted(str(order.id), reason)  # first: nothing can be written back
        photos, headshots = _stored_photos(order), order.headshots.count()
        order.photos.all().delete()
        order.headshots.all().delete()
        keys = _purge_blobs(order, keep_headshots=False)
        order.state, order.progress_stage, order.deleted_at = Order.State.DELETED, "deleted", timezone.now()
        in_test_mode = order.test_mode
        transaction.on_commit(lambda: count_order_finished(in_test_mode, "deleted"))
        order.adapter_key, order.purge_at, order.photos_accepted, order.headshots_ready = "", None, 0, 0
        order.readiness, order.photo_states = {}, []  # they name the photos' files
        order.save()
        _forget_filenames(order)
        _announce_purge(order)
        receipt = _receipt(order, reason, keys, photos, headshots)
        webhooks.enqueue(order, "order.deleted", {"receipt_id": str(receipt.id), "blobs_deleted": len(keys)})
    return receipt


def purge_training_data(order: Order) -> DeletionReceipt:
    """Retention: the selfies and the adapter go; the delivered headshots stay until the user deletes them."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        photos = _stored_photos(order)
        order.photos.all().delete()
        keys = _purge_blobs(order, keep_headshots=True)
        order.training_data_purged_at, order.purge_at, order.photos_accepted = timezone.now(), None, 0
        order.readiness, order.photo_states = {}, []  # they name the photos' files
        order.save()
        _forget_filenames(order)
        _announce_purge(order)
        return _receipt(order, RETENTION, keys, photos, 0)


def repurge_deleted(now: datetime | None = None) -> int:
    """Purge the prefixes of orders deleted within REPURGE_WINDOW again; returns how many blobs were found.

    The tombstone makes every write after the deletion fail, and a write in flight takes itself back; only a
    writer killed between its write and that check could leave a blob, and this sweep removes it.
    """
    now = now or timezone.now()
    found = 0
    recent = Order.objects.filter(state=Order.State.DELETED, deleted_at__gte=now - REPURGE_WINDOW)
    for order_id in recent.values_list("id", flat=True).iterator():
        Photo.objects.filter(order_id=order_id).delete()  # a row a writer added after the deletion, if ever
        leftovers = blob_store().delete_prefix(blob_layout.order_prefix(str(order_id)))
        receipt = DeletionReceipt.objects.filter(order_id=order_id).order_by("-deleted_at").first()
        if receipt is not None:
            _recount(receipt)
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


def sweep(now: datetime | None = None) -> tuple[int, int]:
    """The retention sweep, the worker's every minute and the CronJob's (`manage.py purge_expired`): the training
    data whose time has come, recently deleted orders' prefixes again, and uploads never completed (their slots
    and bytes in quarantine). Returns (orders purged, leftovers)."""
    sweep_quarantine(now)
    return purge_expired(now), repurge_deleted(now)


def record_cache_holder(name: str, interval_s: float, stopping: bool, at: datetime) -> None:
    """A holder's announcement (`CacheHolderPresent`); an older one arriving late changes nothing."""
    holder = CacheHolder.objects.select_for_update().filter(name=name).first()
    if holder is None:
        CacheHolder.objects.create(name=name, interval_s=interval_s, last_seen_at=at, stopped=stopping)
    elif at >= holder.last_seen_at:
        holder.interval_s, holder.last_seen_at, holder.stopped = interval_s, at, stopping
        holder.save()


def record_cache_purge(order_id: str, purged_by: str, entries: int, kept: int, at: datetime | None = None) -> None:
    """Add a process's report of dropping the order's cached data to the order's latest receipt.

    A holder's report counts all it dropped of the order so far and what it still holds: a later one (after
    its sweep dropped the rest) replaces its earlier one, and a repeated one changes nothing."""
    with transaction.atomic():
        receipt = DeletionReceipt.objects.select_for_update().filter(order_id=order_id).order_by("-deleted_at").first()
        if receipt is None:
            return
        purged_at = (at or timezone.now()).isoformat().replace("+00:00", "Z")
        report = {"purged_by": purged_by, "entries": entries, "entries_kept": kept, "purged_at": purged_at}
        earlier = [p for p in receipt.cache_purges if p["purged_by"] == purged_by]
        if earlier and (earlier[0]["entries"], earlier[0].get("entries_kept", 0)) == (entries, kept):
            return  # a repeated report
        receipt.cache_purges = [report if p["purged_by"] == purged_by else p for p in receipt.cache_purges]
        if not earlier:
            receipt.cache_purges.append(report)
        receipt.save(update_fields=["cache_purges"])

"""Writes for orders: creation, photos, submission, renders, deletion, retention, and pipeline events.

Every state change that other services or partners must hear about writes its
outbox event and its webhook rows in the same database transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant
from gateway.config import CONFIG
from gateway.errors import ApiError
from headshots.v1 import common_pb2, events_pb2
from headshots_common import bus
from headshots_common.blobstore import open_blob_store, order_prefix
from headshots_common.styles import PACKAGES, STYLES, images_per_style, subject_phrase
from orders.models import DeletionReceipt, Headshot, Order, Photo, RenderRequest
from orders.photo_checks import CheckedPhoto, Rejection, check_photo
from outbox import services as outbox
from webhooks import services as webhooks
from webhooks.destinations import BlockedDestination

# Share of the whole order's progress bar that training takes; rendering takes the rest.
TRAINING_SHARE = 70
MAX_RETENTION = timedelta(days=35)
MAX_RENDER_COUNT = 40
# Progress webhooks fire at most once per this many percent.
PROGRESS_WEBHOOK_STEP = 10


@cache
def blob_store():
    return open_blob_store(CONFIG.shared.blob_url)


def order_summary(order: Order) -> dict:
    """What webhooks say about an order."""
    return {"state": order.state, "progress": {"stage": order.progress_stage, "percent": order.progress_percent},
            "failure_reason": order.failure_reason or None}


# -- creation --------------------------------------------------------------------------------------------------
def _check_quota(tenant: Tenant) -> None:
    if tenant.monthly_order_quota is None:
        return
    now = timezone.now()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    used = Order.objects.filter(tenant=tenant, created_at__gte=month_start).count()
    if used >= tenant.monthly_order_quota:
        next_month = (month_start + timedelta(days=32)).replace(day=1)
        retry_after = int((next_month - now).total_seconds()) + 1
        raise ApiError("quota_exceeded", f"the monthly quota of {tenant.monthly_order_quota} orders is used up",
                       http_status=429, details={"quota": tenant.monthly_order_quota, "used": used},
                       headers={"Retry-After": str(retry_after)})


@transaction.atomic
def create_order(tenant: Tenant, *, package: str, style_ids: list[str], subject_class: str = "person",
                 retention_hours: int = 24, webhook_url: str = "", request_id: str = "") -> Order:
    if request_id:
        existing = Order.objects.filter(tenant=tenant, request_id=request_id).first()
        if existing is not None:
            return existing
    if package not in PACKAGES:
        raise ApiError("unknown_package", f"package must be one of {sorted(PACKAGES)}", http_status=400)
    unknown = [s for s in style_ids if s not in STYLES]
    if not style_ids or unknown:
        raise ApiError("unknown_style", f"unknown styles {unknown}; see GET /v1/styles", http_status=400,
                       details={"unknown": unknown})
    if not 1 <= retention_hours <= MAX_RETENTION.total_seconds() // 3600:
        raise ApiError("invalid_retention", "retention_hours must be between 1 and 840 (35 days)", http_status=400)
    if webhook_url:
        try:
            webhooks.check_destination(webhook_url)
        except BlockedDestination as exc:
            raise ApiError("webhook_url_not_allowed", f"webhook_url refused: {exc}", http_status=400,
                           details={"fields": {"webhook_url": [str(exc)]}}) from None
    _check_quota(tenant)
    order = Order.objects.create(
        tenant=tenant, package=package, style_ids=list(dict.fromkeys(style_ids)), subject_class=subject_class,
        retention_hours=retention_hours, webhook_url=webhook_url, request_id=request_id,
        purge_at=timezone.now() + MAX_RETENTION,
    )
    webhooks.enqueue(order, "order.created", order_summary(order))
    return order


# -- photos ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PhotoOutcome:
    filename: str
    photo: Photo | None = None
    rejection: Rejection | None = None


def add_photos(order: Order, uploads: list[tuple[str, bytes]]) -> list[PhotoOutcome]:
    """Check each upload in turn (later ones against those accepted before); store only those that pass."""
    outcomes = [add_photo(order, filename, data) for filename, data in uploads]
    accepted = sum(o.photo is not None for o in outcomes)
    with transaction.atomic():
        webhooks.enqueue(order, "order.photos_checked", {
            "accepted": accepted, "rejected": len(outcomes) - accepted,
            "photos_accepted_total": order.photos.count(),
            "rejections": [{"filename": o.filename, "reason_code": o.rejection.code} for o in outcomes if o.rejection],
        })
    return outcomes


def add_photo(order: Order, filename: str, data: bytes) -> PhotoOutcome:
    if order.state != Order.State.AWAITING_PHOTOS:
        raise ApiError("order_not_open", f"photos can only be added while the order awaits photos (it is {order.state})",
                       http_status=409)
    if order.photos.count() >= CONFIG.max_photos:
        return PhotoOutcome(filename, rejection=Rejection(
            "too_many_photos", f"The order already has {CONFIG.max_photos} photos, the most that are used."))
    accepted = [p.embedding for p in order.photos.all() if p.embedding]
    result = check_photo(data, max_bytes=CONFIG.max_photo_bytes, min_face_px=CONFIG.min_face_px,
                         accepted_embeddings=accepted)
    if isinstance(result, Rejection):
        return PhotoOutcome(filename, rejection=result)
    if order.photos.filter(sha256=result.sha256).exists():
        return PhotoOutcome(filename, rejection=Rejection("near_duplicate", "This photo was already uploaded."))
    return PhotoOutcome(filename, photo=_store_photo(order, filename, result))


def _store_photo(order: Order, filename: str, checked: CheckedPhoto) -> Photo:
    photo = Photo(order=order, original_filename=filename[:255], width=checked.width, height=checked.height,
                  sha256=checked.sha256, embedding=checked.embedding)
    photo.blob_key = f"{order_prefix(str(order.id))}photos/{photo.id}.jpg"
    blob_store().put(photo.blob_key, checked.jpeg)
    try:
        with transaction.atomic():
            photo.save()
            locked = Order.objects.select_for_update().get(pk=order.pk)
            locked.photos_accepted += 1
            locked.save()
    except BaseException:
        blob_store().delete(photo.blob_key)  # never leave an orphan blob behind
        raise
    return photo


# -- submission and renders -------------------------------------------------------------------------------------
def submit_order(order: Order) -> Order:
    """Queue the order for training: state change and OrderSubmitted event in one transaction."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.state != Order.State.AWAITING_PHOTOS:
            if order.state == Order.State.QUEUED:
                return order  # submitting twice is harmless
            raise ApiError("order_not_open", f"the order is already {order.state}", http_status=409)
        photos = list(order.photos.order_by("created_at"))
        if len(photos) < CONFIG.min_photos:
            raise ApiError("not_enough_photos", f"{len(photos)} photos accepted; at least {CONFIG.min_photos} are needed",
                           details={"accepted": len(photos), "required": CONFIG.min_photos})
        if len(photos) > CONFIG.max_photos:
            raise ApiError("too_many_photos", f"{len(photos)} photos accepted; at most {CONFIG.max_photos} are used",
                           details={"accepted": len(photos), "maximum": CONFIG.max_photos})
        order.state, order.progress_stage, order.submitted_at = Order.State.QUEUED, "queued", timezone.now()
        order.save()
        submitted = events_pb2.OrderSubmitted(
            tenant_id=str(order.tenant_id), photo_keys=[p.blob_key for p in photos], subject_class=order.subject_class,
            training_profile=common_pb2.TRAINING_PROFILE_STANDARD,
            render_spec=common_pb2.RenderSpec(
                style_ids=order.style_ids, images_per_style=images_per_style(order.package, len(order.style_ids))),
        )
        outbox.enqueue(bus.ORDERS_TOPIC, bus.new_event(str(order.id), order_submitted=submitted))
    return order


def request_render(order: Order, style_id: str, count: int) -> RenderRequest:
    """More headshots in a style from the stored adapter; no retraining."""
    if style_id not in STYLES:
        raise ApiError("unknown_style", f"unknown style {style_id!r}; see GET /v1/styles", http_status=400)
    if not 1 <= count <= MAX_RENDER_COUNT:
        raise ApiError("invalid_count", f"count must be between 1 and {MAX_RENDER_COUNT}", http_status=400)
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.state != Order.State.COMPLETED:
            raise ApiError("order_not_completed", f"renders need a completed order (it is {order.state})", http_status=409)
        if not order.adapter_key or order.training_data_purged_at:
            raise ApiError("adapter_purged", "the adapter was deleted under the retention policy; order again",
                           http_status=409)
        render = RenderRequest.objects.create(order=order, style_id=style_id, count=count)
        order.state, order.progress_stage = Order.State.RENDERING, "rendering"
        order.save()
        requested = events_pb2.RenderRequested(
            request_id=str(render.id), adapter_key=order.adapter_key, subject_phrase=subject_phrase(order.subject_class),
            render_spec=common_pb2.RenderSpec(style_ids=[style_id], images_per_style=count),
            existing_count=order.headshots.count(),
        )
        outbox.enqueue(bus.ORDERS_TOPIC, bus.new_event(str(order.id), render_requested=requested))
    return render


# -- deletion and retention --------------------------------------------------------------------------------------
def _purge_blobs(order: Order, keep_headshots: bool) -> tuple[list[str], int]:
    """Delete the order's blobs (all, or all but headshots); returns the deleted keys and how many remain."""
    prefix = order_prefix(str(order.id))
    store = blob_store()
    keys = [k for k in store.list(prefix) if not (keep_headshots and k.startswith(f"{prefix}headshots/"))]
    for key in keys:
        store.delete(key)
    return keys, len(store.list(prefix))


def _receipt(order: Order, reason: str, keys: list[str], remaining: int, photos: int, headshots: int) -> DeletionReceipt:
    digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()
    return DeletionReceipt.objects.create(tenant_id=order.tenant_id, order_id=order.id, reason=reason,
                                          photos_deleted=photos, headshots_deleted=headshots, blobs_deleted=len(keys),
                                          blob_keys_sha256=digest, remaining_blobs=remaining)


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
        outbox.enqueue(bus.ORDERS_TOPIC, bus.new_event(
            str(order.id), order_deleted=events_pb2.OrderDeleted(tenant_id=str(order.tenant_id))))
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
        outbox.enqueue(bus.ORDERS_TOPIC, bus.new_event(
            str(order.id), order_deleted=events_pb2.OrderDeleted(tenant_id=str(order.tenant_id))))
        return _receipt(order, "retention", keys, remaining, photos, 0)


def purge_expired(now=None) -> int:
    """Run the retention policy for every order whose time has come; returns how many were purged."""
    due = Order.objects.filter(purge_at__lte=now or timezone.now()).exclude(state=Order.State.DELETED)
    count = 0
    for order in due.iterator():
        purge_training_data(order)
        count += 1
    return count


# -- pipeline events ----------------------------------------------------------------------------------------------
def apply_pipeline_event(event: events_pb2.Event) -> None:
    """Move an order along its state machine from a trainer or renderer event (idempotent)."""
    order = Order.objects.select_for_update().filter(pk=event.order_id).first()
    if order is None or order.state == Order.State.DELETED:
        return
    kind = bus.payload_kind(event)
    handler = _HANDLERS.get(kind)
    if handler is None:
        return
    if order.state in (Order.State.COMPLETED, Order.State.FAILED) and kind not in ("render_completed", "render_failed"):
        return  # late or duplicate training events never reopen a final order
    handler(order, getattr(event, kind))
    order.save()


def _on_training_progress(order: Order, progress) -> None:
    if order.state == Order.State.QUEUED:
        webhooks.enqueue(order, "order.training_started", {"total_steps": progress.total_steps})
    previous = order.progress_percent
    order.state, order.progress_stage = Order.State.TRAINING, "training"
    order.progress_percent = round(TRAINING_SHARE * progress.step / max(1, progress.total_steps))
    order.eta_seconds = progress.eta_seconds
    if order.progress_percent // PROGRESS_WEBHOOK_STEP > previous // PROGRESS_WEBHOOK_STEP:
        webhooks.enqueue(order, "order.progress", order_summary(order) | {"eta_s": progress.eta_seconds})


def _on_training_completed(order: Order, completed) -> None:
    order.state, order.progress_stage = Order.State.RENDERING, "rendering"
    order.progress_percent, order.eta_seconds = TRAINING_SHARE, None
    order.adapter_key = completed.adapter_key


def _on_render_progress(order: Order, progress) -> None:
    if order.render_requests.filter(state=RenderRequest.State.PENDING).exists():
        return  # an ad-hoc render of a delivered order: the order's own bar stays at 100%
    order.state, order.progress_stage = Order.State.RENDERING, "rendering"
    order.progress_percent = TRAINING_SHARE + round((100 - TRAINING_SHARE) * progress.images_done
                                                    / max(1, progress.images_total))
    order.eta_seconds = progress.eta_seconds


def _on_render_completed(order: Order, completed) -> None:
    render = order.render_requests.filter(pk=completed.request_id).first() if completed.request_id else None
    for h in completed.headshots:
        Headshot.objects.get_or_create(blob_key=h.key, defaults=dict(
            order=order, style_id=h.style_id, seed=h.seed, width=h.width, height=h.height,
            likeness_score=h.likeness_score, render_request=render))
    order.headshots_ready = order.headshots.count()
    now = timezone.now()
    order.state, order.progress_stage = Order.State.COMPLETED, "done"
    order.progress_percent, order.eta_seconds = 100, 0.0
    if render is not None:
        render.state, render.completed_at = RenderRequest.State.COMPLETED, now
        render.save()
        webhooks.enqueue(order, "order.render_completed", {"render_id": str(render.id), "headshots": len(completed.headshots)})
        return
    order.completed_at = now
    # Retention counts from delivery, never past the 35-day cap set at creation.
    order.purge_at = min(now + timedelta(hours=order.retention_hours), order.created_at + MAX_RETENTION)
    webhooks.enqueue(order, "order.completed", order_summary(order) | {"headshots": order.headshots_ready})


def _on_failed(order: Order, failure) -> None:
    reason = failure.message or events_pb2.FailureReason.Name(failure.reason)
    request_id = getattr(failure, "request_id", "")
    if request_id:  # a failed ad-hoc render leaves the delivered order as it was
        order.render_requests.filter(pk=request_id).update(state=RenderRequest.State.FAILED, failure_reason=reason)
        order.state, order.progress_stage = Order.State.COMPLETED, "done"
        return
    order.state, order.progress_stage, order.failure_reason = Order.State.FAILED, "failed", reason
    webhooks.enqueue(order, "order.failed", order_summary(order))


_HANDLERS = {
    "training_progress": _on_training_progress,
    "training_completed": _on_training_completed,
    "render_progress": _on_render_progress,
    "render_completed": _on_render_completed,
    "training_failed": _on_failed,
    "render_failed": _on_failed,
}

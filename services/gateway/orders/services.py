"""Writes for orders: creation, photos, submission, and applying pipeline events."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant
from gateway.config import CONFIG
from gateway.errors import ApiError
from headshots_common import bus
from headshots_common.blobstore import open_blob_store, order_prefix
from headshots_common.styles import PACKAGES, STYLES, images_per_style
from headshots.v1 import common_pb2, events_pb2
from orders.models import Headshot, Order, Photo
from orders.photo_checks import CheckedPhoto, Rejection, check_photo
from outbox import services as outbox

# Share of the whole order's progress bar that training takes; rendering takes the rest.
TRAINING_SHARE = 70


@cache
def blob_store():
    return open_blob_store(CONFIG.shared.blob_url)


def create_order(tenant: Tenant, *, package: str, style_ids: list[str], subject_class: str = "person",
                 retention_hours: int = 24, webhook_url: str = "", request_id: str = "") -> Order:
    if request_id:
        existing = Order.objects.filter(tenant=tenant, request_id=request_id).first()
        if existing is not None:
            return existing
    if package not in PACKAGES:
        raise ApiError("unknown_package", f"package must be one of {sorted(PACKAGES)}")
    unknown = [s for s in style_ids if s not in STYLES]
    if not style_ids or unknown:
        raise ApiError("unknown_style", f"unknown styles {unknown}; see GET /v1/styles", details={"unknown": unknown})
    return Order.objects.create(
        tenant=tenant, package=package, style_ids=list(dict.fromkeys(style_ids)), subject_class=subject_class,
        retention_hours=retention_hours, webhook_url=webhook_url, request_id=request_id,
    )


@dataclass(frozen=True)
class PhotoOutcome:
    filename: str
    photo: Photo | None = None
    rejection: Rejection | None = None


def add_photo(order: Order, filename: str, data: bytes) -> PhotoOutcome:
    """Check one upload; store it (EXIF-free) only when it passes."""
    if order.state != Order.State.AWAITING_PHOTOS:
        raise ApiError("order_not_open", f"photos can only be added while the order awaits photos (it is {order.state})",
                       http_status=409)
    result = check_photo(data, max_bytes=CONFIG.max_photo_bytes, min_face_px=CONFIG.min_face_px)
    if isinstance(result, Rejection):
        return PhotoOutcome(filename, rejection=result)
    if order.photos.filter(sha256=result.sha256).exists():
        return PhotoOutcome(filename, rejection=Rejection("duplicate_photo", "This photo was already uploaded."))
    return PhotoOutcome(filename, photo=_store_photo(order, filename, result))


def _store_photo(order: Order, filename: str, checked: CheckedPhoto) -> Photo:
    photo = Photo(order=order, original_filename=filename[:255], width=checked.width, height=checked.height,
                  sha256=checked.sha256)
    photo.blob_key = f"{order_prefix(str(order.id))}photos/{photo.id}.jpg"
    blob_store().put(photo.blob_key, checked.jpeg)
    try:
        photo.save()
    except BaseException:
        blob_store().delete_prefix(photo.blob_key)  # never leave an orphan blob behind
        raise
    return photo


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
        order.state = Order.State.QUEUED
        order.progress_stage = "queued"
        order.submitted_at = timezone.now()
        order.save()
        submitted = events_pb2.OrderSubmitted(
            tenant_id=str(order.tenant_id),
            photo_keys=[p.blob_key for p in photos],
            subject_class=order.subject_class,
            training_profile=common_pb2.TRAINING_PROFILE_STANDARD,
            render_spec=common_pb2.RenderSpec(
                style_ids=order.style_ids, images_per_style=images_per_style(order.package, len(order.style_ids))
            ),
        )
        outbox.enqueue(bus.ORDERS_TOPIC, bus.new_event(str(order.id), order_submitted=submitted))
    return order


def apply_pipeline_event(event: events_pb2.Event) -> None:
    """Move an order along its state machine from a trainer or renderer event (idempotent)."""
    order = Order.objects.select_for_update().filter(pk=event.order_id).first()
    if order is None or order.state in Order.FINAL_STATES:
        return  # deleted or already final: late or duplicate events change nothing
    kind = bus.payload_kind(event)
    if kind == "training_progress":
        p = event.training_progress
        order.state, order.progress_stage = Order.State.TRAINING, "training"
        order.progress_percent = round(TRAINING_SHARE * p.step / max(1, p.total_steps))
        order.eta_seconds = p.eta_seconds
    elif kind == "training_completed":
        order.state, order.progress_stage = Order.State.RENDERING, "rendering"
        order.progress_percent, order.eta_seconds = TRAINING_SHARE, None
        order.adapter_key = event.training_completed.adapter_key
    elif kind == "render_progress":
        p = event.render_progress
        order.state, order.progress_stage = Order.State.RENDERING, "rendering"
        order.progress_percent = TRAINING_SHARE + round((100 - TRAINING_SHARE) * p.images_done / max(1, p.images_total))
        order.eta_seconds = p.eta_seconds
    elif kind == "render_completed":
        for h in event.render_completed.headshots:
            Headshot.objects.get_or_create(
                blob_key=h.key,
                defaults=dict(order=order, style_id=h.style_id, seed=h.seed, width=h.width, height=h.height,
                              likeness_score=h.likeness_score),
            )
        order.state, order.progress_stage = Order.State.COMPLETED, "done"
        order.progress_percent, order.eta_seconds = 100, 0.0
        order.completed_at = timezone.now()
    elif kind in ("training_failed", "render_failed"):
        failure = getattr(event, kind)
        order.state, order.progress_stage = Order.State.FAILED, "failed"
        order.failure_reason = failure.message or events_pb2.FailureReason.Name(failure.reason)
    else:
        return
    order.save()

"""Selfies: each upload is checked (later ones against those accepted before) and only those that pass are stored."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction

from gateway.blobs import blob_store
from gateway.config import CONFIG
from gateway.errors import Conflict
from headshots_common import blob_layout, tracing
from headshots_common.blobstore import OrderDeleted
from orders import readiness
from orders.models import Order, Photo
from orders.photo_checks import CheckedPhoto, Rejection, check_photo
from webhooks import services as webhooks


@dataclass(frozen=True)
class PhotoOutcome:
    filename: str
    photo: Photo | None = None
    rejection: Rejection | None = None


def add_photos(order: Order, uploads: Iterable[tuple[str, bytes]]) -> list[PhotoOutcome]:
    """Check and store each upload as it comes; one webhook tells the partner the verdicts.

    All or nothing: when taking the uploads fails part-way (a cap, a broken stream, the order no longer
    open), the photos stored so far are removed again and the error propagates.
    """
    outcomes: list[PhotoOutcome] = []
    try:
        for filename, data in uploads:
            outcomes.append(add_photo(order, filename, data))
    except BaseException:
        for outcome in outcomes:
            if outcome.photo is not None:
                _remove_photo(outcome.photo)
        raise
    accepted = sum(o.photo is not None for o in outcomes)
    with transaction.atomic():
        webhooks.enqueue(
            order,
            "order.photos_checked",
            {
                "accepted": accepted,
                "rejected": len(outcomes) - accepted,
                "photos_accepted_total": order.photos.count(),
                "rejections": [
                    {"filename": o.filename, "reason_code": o.rejection.code} for o in outcomes if o.rejection
                ],
            },
        )
    return outcomes


def add_photo(order: Order, filename: str, data: bytes) -> PhotoOutcome:
    if order.state != Order.State.AWAITING_PHOTOS:
        raise Conflict(
            "order_not_open", f"photos can only be added while the order awaits photos (it is {order.state})"
        )
    if order.photos.count() >= CONFIG.max_photos:
        return PhotoOutcome(
            filename,
            rejection=Rejection(
                "too_many_photos", f"The order already has {CONFIG.max_photos} photos, the most that are used."
            ),
        )
    accepted = [p.embedding for p in order.photos.all() if p.embedding]
    with tracing.span("photo.checks", order.traceparent, attributes={"photo.bytes": len(data)}) as span:
        result = check_photo(
            data, max_bytes=CONFIG.max_photo_bytes, min_face_px=CONFIG.min_face_px, accepted_embeddings=accepted
        )
        span.set_attribute("photo.verdict", result.code if isinstance(result, Rejection) else "accepted")
    if isinstance(result, Rejection):
        return PhotoOutcome(filename, rejection=result)
    if order.photos.filter(sha256=result.sha256).exists():
        return PhotoOutcome(filename, rejection=Rejection("near_duplicate", "This photo was already uploaded."))
    return PhotoOutcome(filename, photo=_store_photo(order, filename, result))


def _store_photo(order: Order, filename: str, checked: CheckedPhoto) -> Photo:
    photo = Photo(
        order=order,
        original_filename=filename[:255],
        width=checked.width,
        height=checked.height,
        sha256=checked.sha256,
        embedding=checked.embedding,
        traits=checked.traits,
    )
    photo.blob_key = blob_layout.photo_key(str(order.id), str(photo.id))
    try:
        blob_store().put(photo.blob_key, checked.jpeg)
    except OrderDeleted:
        raise Conflict("order_not_open", "the order was deleted while the photo was uploaded") from None
    try:
        with transaction.atomic():
            photo.save()
            locked = Order.objects.select_for_update().get(pk=order.pk)
            locked.photos_accepted += 1
            locked.readiness = _readiness(locked)
            locked.save()
    except BaseException:
        blob_store().delete(photo.blob_key)  # never leave an orphan blob behind
        raise
    return photo


def _remove_photo(photo: Photo) -> None:
    with transaction.atomic():
        if Photo.objects.filter(pk=photo.pk).delete()[0]:
            locked = Order.objects.select_for_update().get(pk=photo.order_id)
            locked.photos_accepted = max(0, locked.photos_accepted - 1)
            locked.readiness = _readiness(locked)
            locked.save()
    blob_store().delete(photo.blob_key)


def _readiness(order: Order) -> dict:
    return readiness.assess(
        [readiness.PhotoFacts(p.original_filename, p.embedding, p.traits) for p in order.photos.order_by("created_at")]
    )

"""Selfies: received into quarantine by the upload, checked by the photo checker, shown with their verdicts.

The upload request does no checking. Each photo first gets a slot (a `Photo` row, `uploading`), counted against
the order's cap under the order's lock; its bytes stream into the order's quarantine area in the blob store
(`blob_layout.quarantine_key`: under the order's prefix, so deleting the order purges them); once they are all
there the row turns `checking` and a PhotoReceived event goes out through the outbox in the same transaction.
The photo checker (`checker`, its own processes) decides, stores the EXIF-free JPEG and its PhotoAnalysis, and
records the verdict here (`record_verdict`), exactly once however often the event comes. Every change of a photo
re-renders the order's status, so GET /v1/orders/{id} shows each verdict as it lands.

Raw bytes live only in quarantine, for as long as the checker takes (seconds), or until the sweep clears an
upload never completed (`sweep_quarantine`, `HEADSHOTS_UPLOAD_URL_TTL_S`).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from gateway.blobs import blob_store
from gateway.config import CONFIG
from gateway.errors import Conflict, NotFound, ResourceExhausted
from headshots.v1 import events_pb2
from headshots_common import blob_layout, bus
from headshots_common.blobstore import OrderDeleted
from orders import readiness
from orders.models import Order, Photo
from orders.photo_checks import NOT_JUDGED, CheckedPhoto, Rejection, check_against_accepted
from outbox import services as outbox
from webhooks import services as webhooks

log = logging.getLogger(__name__)

# The backlog's state is read at most this often per process: refusing uploads must not cost reads a query each.
BACKLOG_CHECK_EVERY_S = 1.0
# Waiting for verdicts: the rows are read again after this long, growing to the longest pause.
WAIT_FIRST_S, WAIT_LONGEST_S = 0.05, 0.5
# What an upload still being checked when its wait ran out says (`reason_code`), for clients that read only that.
CHECKING = Rejection("checking", "The photo is still being checked; its status URL shows the verdict.")
# An upload whose photo went before its verdict came (removed by its owner, or its order deleted).
REMOVED = Rejection("photo_removed", "The photo was removed, or its order deleted, before its check ended.")


@dataclass(frozen=True)
class PhotoOutcome:
    """One uploaded file: its photo (any state), or why no photo was made of it (the cap, its size)."""

    filename: str
    photo: Photo | None = None
    rejection: Rejection | None = None


# -- back-pressure --------------------------------------------------------------------------------------------
_backlog_checked_at = 0.0
_backlog_refusal: ResourceExhausted | None = None


def check_backlog() -> None:
    """ResourceExhausted (`checks_backlogged`, with Retry-After) while the checker is behind its objective: the oldest
    photo waiting is older than HEADSHOTS_CHECK_BACKLOG_MAX_AGE_S, or more than HEADSHOTS_CHECK_BACKLOG_MAX_DEPTH
    wait. Only new uploads are refused; reads never."""
    global _backlog_checked_at, _backlog_refusal
    now = time.monotonic()
    if now - _backlog_checked_at >= BACKLOG_CHECK_EVERY_S:
        _backlog_refusal, _backlog_checked_at = _backlog(), now
    if _backlog_refusal is not None:
        raise _backlog_refusal


def _backlog() -> ResourceExhausted | None:
    waiting = Photo.objects.filter(state=Photo.State.CHECKING)
    oldest = waiting.aggregate(oldest=Min("received_at"))["oldest"]
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    depth = waiting.values("pk")[: CONFIG.check_backlog_max_depth + 1].count()
    if age <= CONFIG.check_backlog_max_age_s and depth <= CONFIG.check_backlog_max_depth:
        return None
    return ResourceExhausted(
        "checks_backlogged",
        "photos are being checked more slowly than they arrive; upload again shortly",
        details={"oldest_waiting_s": round(age, 1), "waiting": depth},
        retry_after_s=max(1, round(CONFIG.check_backlog_max_age_s / 2)),
    )


# -- receiving ------------------------------------------------------------------------------------------------
def _lock_open(order: Order) -> Order:
    """The order, locked, if it still takes photos; Conflict otherwise (deleted, submitted meanwhile)."""
    locked = Order.objects.select_for_update().get(pk=order.pk)
    if locked.state != Order.State.AWAITING_PHOTOS:
        raise Conflict(
            "order_not_open", f"photos can only be added while the order awaits photos (it is {locked.state})"
        )
    return locked


def reserve(order: Order, filename: str, expires_at: datetime | None = None, max_bytes: int = 0) -> Photo | Rejection:
    """A slot for one photo's bytes (an `uploading` row), or `too_many_photos` when the order's cap is reached.

    Counted under the order's lock: uploads at once, from any number of processes, never pass the cap.
    """
    now = timezone.now()
    with transaction.atomic():
        locked = _lock_open(order)
        kept = locked.photos.filter(state__in=Photo.KEPT_STATES).exclude(
            state=Photo.State.UPLOADING, upload_expires_at__lt=now
        )
        if kept.count() >= CONFIG.max_photos:
            return Rejection(
                "too_many_photos",
                f"The order already has {CONFIG.max_photos} photos, the most that are used; remove one first.",
            )
        photo_id = uuid.uuid4()
        photo = Photo.objects.create(
            id=photo_id,
            order=locked,
            state=Photo.State.UPLOADING,
            original_filename=filename[:255],
            quarantine_key=blob_layout.quarantine_key(str(locked.id), str(photo_id)),
            upload_expires_at=expires_at or now + timedelta(seconds=CONFIG.upload_url_ttl_s),
            upload_max_bytes=max_bytes,
        )
        _refresh(locked)
    return photo


def mark_received(order: Order, received: list[Photo]) -> list[Photo]:
    """The photos' bytes are all in quarantine: each turns `checking` and is announced to the checker (PhotoReceived,
    through the outbox, in this transaction). Conflict when the order stopped taking photos meanwhile (deleted,
    submitted): then the caller discards them.

    Answers the photos in the order given. A photo whose bytes (`upload_sha256`, set by the caller) an earlier request
    uploaded already is that earlier photo: its slot and bytes go, and the earlier photo, with its verdict, stands in
    its place. So an upload sent again, because its answer never came (a 503 once the photos were stored, a cut
    connection), makes no second photo and answers as the first did. The same bytes twice in one request are still
    two photos, and the checker rejects the second as a duplicate."""
    if not received:
        return []
    now = timezone.now()
    digests = {p.pk: p.upload_sha256 for p in received}
    sent_before: dict[uuid.UUID, Photo] = {}  # a slot -> the earlier photo of the same bytes
    with transaction.atomic():
        locked = _lock_open(order)
        rows = {p.pk: p for p in locked.photos.select_for_update().filter(pk__in=list(digests))}
        earlier = {
            p.upload_sha256: p
            for p in locked.photos.exclude(pk__in=list(digests))
            .exclude(upload_sha256="")
            .exclude(state=Photo.State.UPLOADING)
            .exclude(state=Photo.State.REJECTED, reason_code__in=NOT_JUDGED)  # no verdict on the photo: check again
            .order_by("-created_at")  # the first photo of those bytes wins
        }
        for photo in rows.values():
            if photo.state != Photo.State.UPLOADING:
                continue  # completed before (a retried completion call)
            if digests[photo.pk] in earlier:
                sent_before[photo.pk] = earlier[digests[photo.pk]]
                continue
            photo.state, photo.received_at, photo.upload_expires_at = Photo.State.CHECKING, now, None
            photo.upload_sha256 = digests[photo.pk]
            photo.save(update_fields=["state", "received_at", "upload_expires_at", "upload_sha256"])
            announce_to_checker(locked, photo)
        if sent_before:
            Photo.objects.filter(pk__in=list(sent_before)).delete()
            keys = [rows[pk].quarantine_key for pk in sent_before]
            transaction.on_commit(lambda: [blob_store().delete(key) for key in keys])
        _refresh(locked)
    return [sent_before.get(p.pk) or rows.get(p.pk, p) for p in received]


def mark_outcomes_received(order: Order, outcomes: list[PhotoOutcome]) -> list[PhotoOutcome]:
    """`mark_received` for the photos of an upload's outcomes; each outcome then names the photo that stands for
    its file (an earlier photo of the same bytes, where there is one)."""
    sent = [o.photo for o in outcomes if o.photo is not None]
    marked = dict(zip([p.pk for p in sent], mark_received(order, sent)))
    return [PhotoOutcome(o.filename, photo=marked[o.photo.pk]) if o.photo is not None else o for o in outcomes]


def announce_to_checker(order: Order, photo: Photo) -> None:
    """PhotoReceived for a `checking` photo, through the outbox, in the caller's transaction."""
    event = bus.new_event(
        str(order.id),
        photo_received=events_pb2.PhotoReceived(
            tenant_id=str(order.tenant_id), photo_id=str(photo.id), quarantine_key=photo.quarantine_key
        ),
    )
    outbox.enqueue(bus.PHOTOS_TOPIC, event, order.traceparent, key=str(photo.id))


def discard(photos: Iterable[Photo]) -> None:
    """Photos whose upload failed or was refused: their rows and whatever bytes they got are removed."""
    photos = list(photos)
    if not photos:
        return
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=photos[0].order_id)
        Photo.objects.filter(pk__in=[p.pk for p in photos], state=Photo.State.UPLOADING).delete()
        _refresh(order)
    for photo in photos:
        blob_store().delete(photo.quarantine_key)


def add_photos(order: Order, uploads: Iterable[tuple[str, bytes]]) -> list[PhotoOutcome]:
    """Uploads whose bytes are in memory already (a gRPC stream): each into quarantine as it comes, then all are
    handed to the checker at once. All or nothing: when taking them fails part-way (a cap on the stream, a broken
    stream, the order no longer open), what was kept so far is removed again and the error propagates."""
    outcomes: list[PhotoOutcome] = []
    kept: list[Photo] = []
    try:
        for filename, data in uploads:
            slot = reserve(order, filename)
            if isinstance(slot, Rejection):
                outcomes.append(PhotoOutcome(filename, rejection=slot))
                continue
            kept.append(slot)
            try:
                blob_store().put(slot.quarantine_key, data)
            except OrderDeleted:
                raise Conflict("order_not_open", "the order was deleted while its photos were uploaded") from None
            slot.upload_sha256 = hashlib.sha256(data).hexdigest()
            outcomes.append(PhotoOutcome(filename, photo=slot))
        return mark_outcomes_received(order, outcomes)
    except BaseException:
        discard(kept)
        raise


def await_verdicts(outcomes: list[PhotoOutcome], timeout_s: float) -> list[PhotoOutcome]:
    """The outcomes with each photo as it is once the checker has decided, or `timeout_s` has passed.

    The thread only sleeps between reads of the rows: the checking happens in the checker's processes.
    """
    pending = {o.photo.pk for o in outcomes if o.photo is not None}
    photos: dict[uuid.UUID, Photo] = {}
    deadline, pause = time.monotonic() + timeout_s, WAIT_FIRST_S
    while pending:
        fresh = {p.pk: p for p in Photo.objects.filter(pk__in=pending)}
        for pk in pending:  # a photo gone meanwhile (removed, its order deleted) is gone from the answer too
            photos.pop(pk, None)
        photos.update(fresh)
        pending = {pk for pk, p in fresh.items() if p.state == Photo.State.CHECKING}
        if not pending or time.monotonic() + pause > deadline:
            break
        time.sleep(pause)
        pause = min(pause * 1.5, WAIT_LONGEST_S)
    return [
        o
        if o.photo is None
        else PhotoOutcome(o.filename, photo=photos[o.photo.pk])
        if o.photo.pk in photos
        else PhotoOutcome(o.filename, rejection=REMOVED)
        for o in outcomes
    ]


def verdict(outcome: PhotoOutcome) -> Rejection | None:
    """Why the upload was not accepted: its rejection, CHECKING while undecided; None for an accepted photo."""
    if outcome.rejection is not None:
        return outcome.rejection
    photo = outcome.photo
    assert photo is not None
    if photo.state == Photo.State.ACCEPTED:
        return None
    if photo.state == Photo.State.REJECTED:
        return Rejection(photo.reason_code, photo.message)
    return CHECKING


def result_state(outcome: PhotoOutcome) -> str:
    """ "accepted", "rejected", or "checking" while the checker has not decided."""
    rejection = verdict(outcome)
    if rejection is None:
        return Photo.State.ACCEPTED
    return Photo.State.CHECKING if rejection is CHECKING else Photo.State.REJECTED


# -- the checker's verdict ------------------------------------------------------------------------------------
def record_verdict(photo_id: str, result: CheckedPhoto | Rejection) -> Photo | None:
    """The checker's verdict on a photo still `checking`, recorded once; None when there is nothing to record it on
    (the photo was removed, the order deleted, or a verdict is there already: a redelivered event).

    Under the order's lock the photo is compared once more with every photo accepted so far, those accepted by
    other checkers meanwhile included, so two near-duplicates checked side by side are never both accepted. When
    no photo of the order is left checking, one `order.photos_checked` webhook announces the verdicts since the last.
    """
    order_id = Photo.objects.filter(pk=photo_id).values_list("order_id", flat=True).first()
    if order_id is None:
        return None
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        photo = order.photos.filter(pk=photo_id, state=Photo.State.CHECKING).first()
        if photo is None or order.state == Order.State.DELETED:
            return None
        if isinstance(result, CheckedPhoto):
            result = _against_accepted(order, result)
        photo.checked_at = timezone.now()
        if isinstance(result, Rejection):
            photo.state, photo.reason_code, photo.message = Photo.State.REJECTED, result.code, result.message[:500]
        else:
            photo.state, photo.blob_key = Photo.State.ACCEPTED, blob_layout.photo_key(str(order.id), str(photo.id))
            photo.width, photo.height, photo.sha256 = result.width, result.height, result.sha256
            photo.embedding, photo.traits = result.embedding, result.traits
            face = result.face
            photo.face = {"left": face.left, "top": face.top, "right": face.right, "bottom": face.bottom}
            order.photos_accepted += 1
        photo.save()
        if photo.state == Photo.State.ACCEPTED:
            order.readiness = _readiness(order)
        _announce_when_all_checked(order)
        _refresh(order)
    return photo


def _against_accepted(order: Order, checked: CheckedPhoto) -> CheckedPhoto | Rejection:
    accepted = list(order.photos.filter(state=Photo.State.ACCEPTED).values_list("sha256", "embedding"))
    if any(sha256 == checked.sha256 for sha256, _ in accepted):
        return Rejection("near_duplicate", "This photo was already uploaded.")
    embeddings = [embedding for _, embedding in accepted if embedding]
    rejection = check_against_accepted(np.asarray(checked.embedding, dtype=np.float32), embeddings)
    return rejection or checked


def _announce_when_all_checked(order: Order) -> None:
    if order.photos.filter(state=Photo.State.CHECKING).exists():
        return
    decided = list(
        order.photos.filter(announced=False, state__in=(Photo.State.ACCEPTED, Photo.State.REJECTED)).order_by(
            "created_at"
        )
    )
    if not decided:
        return
    rejected = [p for p in decided if p.state == Photo.State.REJECTED]
    webhooks.enqueue(
        order,
        "order.photos_checked",
        {
            "accepted": len(decided) - len(rejected),
            "rejected": len(rejected),
            "photos_accepted_total": order.photos_accepted,
            "rejections": [
                {"photo_id": str(p.id), "filename": p.original_filename, "reason_code": p.reason_code} for p in rejected
            ],
        },
    )
    Photo.objects.filter(pk__in=[p.pk for p in decided]).update(announced=True)


# -- removing -------------------------------------------------------------------------------------------------
def delete_photo(order: Order, photo_id) -> None:
    """Remove a photo from an order still taking photos: its row, its JPEG and analysis, its upload."""
    with transaction.atomic():
        locked = _lock_open(order)
        photo = locked.photos.filter(pk=photo_id).first()
        if photo is None:
            raise NotFound("photo")
        keys = stored_keys(str(order.id), str(photo.id))
        photo.delete()
        if photo.state == Photo.State.ACCEPTED:
            locked.photos_accepted = max(0, locked.photos_accepted - 1)
            locked.readiness = _readiness(locked)
        _refresh(locked)
    for key in keys:
        blob_store().delete(key)


def stored_keys(order_id: str, photo_id: str) -> list[str]:
    """Every blob a photo may have: its raw upload, its JPEG and the JPEG's analysis."""
    jpeg = blob_layout.photo_key(order_id, photo_id)
    return [blob_layout.quarantine_key(order_id, photo_id), jpeg, blob_layout.photo_analysis_key(jpeg)]


def sweep_quarantine(now: datetime | None = None) -> int:
    """Clear uploads never completed: slots whose time ran out (with whatever bytes they got), and partial writes
    older than that in the quarantine areas they were in. Returns how many slots were cleared."""
    now = now or timezone.now()
    expired = list(Photo.objects.filter(state=Photo.State.UPLOADING, upload_expires_at__lt=now))
    cutoff = (now - timedelta(seconds=CONFIG.upload_url_ttl_s)).timestamp()
    for order_id in {p.order_id for p in expired}:
        discard([p for p in expired if p.order_id == order_id])
        waiting = set(
            Photo.objects.filter(order_id=order_id)
            .exclude(state=Photo.State.UPLOADING)
            .values_list("quarantine_key", flat=True)
        )
        for key in blob_store().modified_before(blob_layout.quarantine_prefix(str(order_id)), cutoff):
            if key not in waiting:
                blob_store().delete(key)
    if expired:
        log.info("cleared %d uploads that were never completed", len(expired))
    return len(expired)


# -- the order's view of its photos ---------------------------------------------------------------------------
def _refresh(order: Order) -> None:
    """Save the locked order with its photos as its status shows them."""
    order.photo_states = [p.summary() for p in order.photos.order_by("created_at", "id")]
    order.save()


def _readiness(order: Order) -> dict:
    return readiness.assess(
        [
            readiness.PhotoFacts(p.original_filename, p.embedding, p.traits)
            for p in order.photos.filter(state=Photo.State.ACCEPTED).order_by("created_at")
        ]
    )

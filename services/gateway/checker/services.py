"""What the photo checker does with one received photo, exactly once in effect however often it is asked.

1. Reads the raw upload from quarantine and runs the checks (`orders.photo_checks`), comparing it with the photos
   accepted so far.
2. Accepted: stores the EXIF-free JPEG, then its PhotoAnalysis (face box, embedding) beside it, for the trainer
   and the renderer. Both writes are deterministic, so doing them again changes nothing.
3. Records the verdict (`photos.record_verdict`): one transaction under the order's lock, which also updates the
   order's counts and readiness and queues `order.photos_checked` when no photo of the order is left checking.
   That commit is the one moment the verdict takes effect: a redelivered event finds the photo decided already.
4. Tidies up: deletes the raw upload, and for a photo that is not accepted (rejected, removed, its order deleted)
   whatever JPEG a check stored for it.

A checker killed anywhere in between leaves the event uncommitted; it comes again, and steps 1-4 repeat with the
same outcome. A deleted order's tombstone refuses the JPEG's write, and its rows are gone, so nothing is left.
"""

from __future__ import annotations

import logging
import time

from checker.observability import CHECK_SECONDS, PHOTOS_CHECKED
from gateway.blobs import blob_store
from gateway.config import CONFIG
from headshots.v1 import events_pb2
from headshots_common import blob_layout, photo_analysis, tracing
from headshots_common.blobstore import BlobNotFound, OrderDeleted
from orders.models import Photo
from orders.photo_checks import CHECK_FAILED, UPLOAD_INCOMPLETE, CheckedPhoto, Rejection, check_photo
from orders.services import photos

log = logging.getLogger(__name__)


def check(order_id: str, received: events_pb2.PhotoReceived) -> str:
    """Check one received photo and record its verdict; returns what happened ("accepted", a rejection code, or
    "skipped" for a photo with nothing left to decide)."""
    photo = Photo.objects.filter(pk=received.photo_id, order_id=order_id).select_related("order").first()
    if photo is None or photo.state != Photo.State.CHECKING:
        _tidy(order_id, received.photo_id, keep_jpeg=photo is not None and photo.state == Photo.State.ACCEPTED)
        return "skipped"
    started = time.process_time()
    try:
        data = blob_store().get(received.quarantine_key)
    except BlobNotFound:
        result: CheckedPhoto | Rejection = UPLOAD_INCOMPLETE
    else:
        # A child of the order's trace, as every span of the order is.
        with tracing.span("photo.checks", photo.order.traceparent, attributes={"photo.bytes": len(data)}) as span:
            result = check_photo(data, max_bytes=CONFIG.max_photo_bytes, min_face_px=CONFIG.min_face_px)
            span.set_attribute("photo.verdict", result.code if isinstance(result, Rejection) else "accepted")
    CHECK_SECONDS.observe(time.process_time() - started)
    if isinstance(result, CheckedPhoto):
        jpeg = blob_layout.photo_key(order_id, received.photo_id)
        try:
            blob_store().put(jpeg, result.jpeg)
            blob_store().put(
                blob_layout.photo_analysis_key(jpeg),
                photo_analysis.encode(result.face, result.embedding, result.width, result.height),
            )
        except OrderDeleted:
            _tidy(order_id, received.photo_id, keep_jpeg=False)
            return "skipped"
    recorded = photos.record_verdict(received.photo_id, result)
    accepted = recorded is not None and recorded.state == Photo.State.ACCEPTED
    _tidy(order_id, received.photo_id, keep_jpeg=accepted)
    if recorded is None:
        PHOTOS_CHECKED.labels("skipped").inc()
        return "skipped"
    PHOTOS_CHECKED.labels(recorded.state).inc()
    return "accepted" if accepted else recorded.reason_code


def give_up(order_id: str, photo_id: str) -> str:
    """The verdict of a photo whose checks keep failing: rejected as `check_failed`, its bytes removed."""
    recorded = photos.record_verdict(photo_id, CHECK_FAILED)
    _tidy(order_id, photo_id, keep_jpeg=False)
    PHOTOS_CHECKED.labels("skipped" if recorded is None else recorded.state).inc()
    return "skipped" if recorded is None else CHECK_FAILED.code


def _tidy(order_id: str, photo_id: str, keep_jpeg: bool) -> None:
    """The raw upload goes once a verdict is recorded; the JPEG and its analysis stay only for an accepted photo."""
    keys = photos.stored_keys(order_id, photo_id)
    for key in keys if not keep_jpeg else keys[:1]:
        blob_store().delete(key)

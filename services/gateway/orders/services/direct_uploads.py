"""Direct uploads: a photo's bytes go to the store by a URL handed out for it, never through a web worker that
serves reads.

`POST /v1/orders/{id}/uploads` reserves one slot per file (`photos.reserve`, the order's cap under its lock) and
hands out its URL, good for HEADSHOTS_UPLOAD_URL_TTL_S:

- S3: a presigned POST to the bucket, for exactly that quarantine key, with a content-length range of 1 byte to
  the size the client announced (at most the per-photo cap); S3 itself refuses a late or oversized upload.
  The client then calls `POST /v1/orders/{id}/uploads/{photo_id}/complete`, which looks the object up (its size
  too) and queues the check.
- The local store: a URL of the gateway's upload receiver (`gateway-uploads`, a process of its own), signed with
  the photo's id and size cap. `receive` streams the body into quarantine, cut off past the cap, and queues the
  check itself; completing again answers the photo as it is.

An expired or forged URL answers 403, a second upload to one URL 409, more bytes than allowed 413 (nothing kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from django.core import signing
from django.utils import timezone

from gateway.blobs import blob_store
from gateway.config import CONFIG
from gateway.errors import Conflict, InvalidArgument, NotFound, PayloadTooLarge, PermissionDenied
from headshots_common.blobstore import BlobNotFound, OrderDeleted, PreconditionFailed, S3BlobStore, TooLarge
from orders.models import Order, Photo
from orders.photo_checks import Rejection
from orders.services import photos

SALT = "headshots.direct-upload"
CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True)
class UploadSlot:
    """Where and how to send one photo's bytes."""

    photo: Photo
    method: str  # "PUT" (the upload receiver) or "POST" (an S3 form upload)
    url: str
    expires_at: datetime
    fields: dict[str, Any] = field(default_factory=dict)  # form fields to send before the file (S3)


def create_slots(order: Order, files: list[dict]) -> list[UploadSlot | photos.PhotoOutcome]:
    """A slot and URL for each `{"filename", "size"}`, or the reason there is none (the order's cap)."""
    photos.check_backlog()
    expires_at = timezone.now() + timedelta(seconds=CONFIG.upload_url_ttl_s)
    slots: list[UploadSlot | photos.PhotoOutcome] = []
    for file in files:
        max_bytes = min(file["size"], CONFIG.max_photo_bytes)
        slot = photos.reserve(order, file["filename"], expires_at, max_bytes)
        if isinstance(slot, Rejection):
            slots.append(photos.PhotoOutcome(file["filename"], rejection=slot))
        else:
            slots.append(_url_for(slot, max_bytes, expires_at))
    return slots


def _url_for(photo: Photo, max_bytes: int, expires_at: datetime) -> UploadSlot:
    store = blob_store()
    if isinstance(store, S3BlobStore):
        post = store.presigned_post(photo.quarantine_key, max_bytes, CONFIG.upload_url_ttl_s)
        return UploadSlot(photo, "POST", post["url"], expires_at, post["fields"])
    token = signing.dumps({"p": str(photo.id), "n": max_bytes}, salt=SALT, compress=True)
    return UploadSlot(photo, "PUT", f"{CONFIG.upload_url.rstrip('/')}/v1/uploads/{token}", expires_at)


def complete(order: Order, photo_id) -> Photo:
    """The client says a photo's bytes are uploaded: queue its check (once; completing again changes nothing)."""
    photo = order.photos.filter(pk=photo_id).first()
    if photo is None:
        raise NotFound("photo")
    if photo.state != Photo.State.UPLOADING:
        return photo
    try:
        size = blob_store().size(photo.quarantine_key)
    except BlobNotFound:
        raise Conflict("upload_missing", "nothing has been uploaded to the photo's URL yet") from None
    max_bytes = photo.upload_max_bytes or CONFIG.max_photo_bytes
    if size > max_bytes:  # S3 refuses these itself; a store that does not enforce the POST's policy is caught here
        blob_store().delete(photo.quarantine_key)
        raise _too_large(max_bytes)
    return _received(order, photo)


def receive(token: str, body: BinaryIO, content_length: int | None) -> Photo:
    """The upload receiver: a signed URL's body, streamed into the photo's quarantine slot, then its check queued."""
    try:
        claims = signing.loads(token, salt=SALT, max_age=CONFIG.upload_url_ttl_s)
    except signing.SignatureExpired:
        raise PermissionDenied("upload_url_expired", "the upload URL has expired; ask for a new one") from None
    except signing.BadSignature:
        raise PermissionDenied("upload_url_invalid", "the upload URL is not one we handed out") from None
    photo = Photo.objects.select_related("order").filter(pk=claims["p"]).first()
    if photo is None:
        raise NotFound("upload")
    if photo.state != Photo.State.UPLOADING:
        raise Conflict("upload_already_used", "this upload URL was used already; each takes one photo")
    max_bytes = int(claims["n"])
    if content_length is None:
        raise InvalidArgument("length_required", "send the photo's size in Content-Length")
    if content_length > max_bytes:
        raise _too_large(max_bytes)
    writer = blob_store().open_writer(photo.quarantine_key, max_bytes)
    try:
        remaining = content_length
        while remaining > 0:
            chunk = body.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                raise InvalidArgument("upload_incomplete", "the upload ended before Content-Length bytes came")
            writer.write(chunk)
            remaining -= len(chunk)
        writer.commit(if_absent=True)
    except TooLarge:
        raise _too_large(max_bytes) from None
    except PreconditionFailed:
        raise Conflict("upload_already_used", "this upload URL was used already; each takes one photo") from None
    except OrderDeleted:
        raise Conflict("order_not_open", "the order was deleted while its photo was uploaded") from None
    finally:
        writer.close()
    return _received(photo.order, photo)


def _received(order: Order, photo: Photo) -> Photo:
    try:
        return photos.mark_received(order, [photo])[0]
    except Conflict:
        photos.discard([photo])
        raise


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        "file_too_large", f"the photo is larger than the {max_bytes} bytes allowed", details={"limit_bytes": max_bytes}
    )

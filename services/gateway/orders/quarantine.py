"""A multipart upload's photos, streamed straight into the order's quarantine area as they arrive.

`QuarantineUploadHandler` runs after `gateway.limits.CappedUploadHandler` (which counts files and bytes and skips
a file over the per-photo cap). For each file it first reserves the photo's slot (`photos.reserve`: the order's
cap, under its lock), then writes every chunk to the blob store (`open_writer`: a hidden temp file beside the
blob locally, memory for S3), never to the temp folder; the blob appears whole when the file is complete. A file
refused by the cap is skipped unread. `abort` takes back everything of an upload that fails.
"""

from __future__ import annotations

import hashlib
import io

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile

from gateway.blobs import blob_store
from gateway.config import CONFIG
from gateway.errors import Conflict
from headshots_common.blobstore import BlobWriter, OrderDeleted
from orders.models import Order, Photo
from orders.photo_checks import Rejection
from orders.services import photos


class _NoFile:
    def close(self) -> None:
        pass


class QuarantinedFile(UploadedFile):
    """What Django's request.FILES holds for a photo: its name and its slot; the bytes are in the blob store."""

    def __init__(self, name: str, size: int, photo: Photo):
        super().__init__(file=io.BytesIO(), name=name, size=size)  # an empty stand-in: Django closes it
        self.photo = photo


class QuarantineUploadHandler(FileUploadHandler):
    chunk_size = 256 * 1024

    def __init__(self, request, order: Order):
        super().__init__(request)
        self.order = order
        self.outcomes: list[photos.PhotoOutcome] = []  # in the order the files came
        self.reserved: list[Photo] = []
        self.received: list[Photo] = []
        self.writer: BlobWriter | None = None
        self.photo: Photo | None = None
        self.digest = hashlib.sha256()

    @property
    def file(self):
        """What Django's parser closes when a file is skipped or the upload stopped: the current file's writer."""
        return self.writer or _NoFile()

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.photo, self.writer, self.digest = None, None, hashlib.sha256()
        slot = photos.reserve(self.order, self.file_name or "")
        if isinstance(slot, Rejection):
            self.outcomes.append(photos.PhotoOutcome(self.file_name or "", rejection=slot))
            raise SkipFile()
        self.photo = slot
        self.reserved.append(slot)
        self.writer = blob_store().open_writer(slot.quarantine_key, CONFIG.max_photo_bytes)

    def receive_data_chunk(self, raw_data, start):
        assert self.writer is not None
        self.writer.write(raw_data)
        self.digest.update(raw_data)
        return None

    def file_complete(self, file_size):
        if self.writer is None or self.photo is None or self.writer.closed:
            return None  # skipped
        try:
            self.writer.commit()
        except OrderDeleted:
            raise Conflict("order_not_open", "the order was deleted while its photos were uploaded") from None
        self.photo.upload_sha256 = self.digest.hexdigest()
        self.received.append(self.photo)
        self.outcomes.append(photos.PhotoOutcome(self.file_name or "", photo=self.photo))
        return QuarantinedFile(self.file_name or "", file_size, self.photo)

    def mark_received(self) -> None:
        """The completed files' photos to the checker; a file an earlier upload sent already answers with the photo
        made of it then (`photos.mark_received`)."""
        self.outcomes = photos.mark_outcomes_received(self.order, self.outcomes)

    def leftovers(self) -> list[Photo]:
        """Slots reserved for files that never completed (skipped over the size cap, cut off)."""
        done = {p.pk for p in self.received}
        return [p for p in self.reserved if p.pk not in done]

    def abort(self) -> None:
        """Take back every slot and every byte of this upload."""
        if self.writer is not None:
            self.writer.close()
        photos.discard(self.reserved)

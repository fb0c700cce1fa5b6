"""The gateway's blob store (photos in, headshots out), opened once per process from HEADSHOTS_BLOB_URL."""

from __future__ import annotations

from functools import cache

from gateway.config import CONFIG
from headshots_common.blobstore import BlobStore, open_blob_store


@cache
def blob_store() -> BlobStore:
    return open_blob_store(CONFIG.shared.blob_url)

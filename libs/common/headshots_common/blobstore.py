"""The blob store for photos, adapters and headshots, addressed by immutable keys.

`file://DIR` is the local default; `s3://bucket/prefix` in the cluster. Keys are
"/"-separated and grouped per order (`orders/{order_id}/...`), so deleting an
order is deleting one prefix.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse


class BlobNotFound(KeyError):
    pass


class LocalBlobStore:
    """Blobs as files under one root directory; writes are atomic (temp file + rename)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"blob key escapes the store: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def local_path(self, key: str) -> Path:
        """A filesystem path holding the blob (libraries such as diffusers want one)."""
        path = self._path(key)
        if not path.is_file():
            raise BlobNotFound(key)
        return path

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.exists():
            return []
        return sorted(
            str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file() and not p.name.startswith(".tmp-")
        )

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
            return True
        except FileNotFoundError:
            return False

    def delete_prefix(self, prefix: str) -> int:
        """Delete every blob under `prefix`; returns how many were deleted."""
        keys = self.list(prefix)
        base = self._path(prefix)
        if base.is_dir():
            shutil.rmtree(base)
        elif base.is_file():
            base.unlink()
        return len(keys)


def open_blob_store(url: str) -> LocalBlobStore:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalBlobStore(parsed.path)
    raise ValueError(f"unsupported blob store URL {url!r}: use file:///path (s3:// arrives with the cluster deployment)")


def order_prefix(order_id: str) -> str:
    return f"orders/{order_id}/"

"""The blob store for photos, adapters and headshots.

`file://DIR` is the local default; `s3://bucket/prefix` in the cluster (any S3-compatible service:
AWS, MinIO, Ceph; boto3 reads the endpoint, region and credentials from the standard AWS_* variables).
Which key holds what is `blob_layout`'s business alone. Both stores behave the same, and the tests run
one contract against each:

* `put` replaces a blob atomically; `put_if` writes only when the blob is still what the caller read
  (its ETag), or absent: a compare-and-swap (S3 `If-Match` / `If-None-Match`; locally a lock and an
  atomic rename), for records several processes update (the trainer's job leases);
* a deleted order has a tombstone, and every write under its prefix checks the tombstone before it
  and again after it: a write that started before the deletion is taken back, never left behind
  (`OrderDeleted`);
* nothing is cached on local disk: a deleted blob leaves no copy behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from headshots_common import blob_layout

T = TypeVar("T")


class BlobNotFound(KeyError):
    pass


class PreconditionFailed(RuntimeError):
    """A conditional write found the blob changed (or present, or absent) since the caller read it."""


class TooLarge(ValueError):
    """A streamed blob went past the size its writer allows; nothing of it was kept."""

    def __init__(self, key: str, max_bytes: int):
        super().__init__(f"{key}: more than {max_bytes} bytes")
        self.max_bytes = max_bytes


class OrderDeleted(RuntimeError):
    """The order was deleted: nothing may be written under its prefix any more."""

    def __init__(self, order_id: str):
        super().__init__(f"order {order_id} was deleted; its data cannot be written")
        self.order_id = order_id


def unavailable(exc: BaseException) -> bool:
    """Whether a store call failed because the store is unreachable or shedding load for now, so that the same
    call can succeed later: a connection refused, cut or timed out, or an S3 5xx answer (503 SlowDown and
    ServiceUnavailable, 500 InternalError). Wrong requests, missing blobs and refused conditions are not."""
    try:
        from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, HTTPClientError
    except ImportError:  # no S3 client installed: only the local store, whose errors are not passing ones
        return False
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= 500 or exc.response.get("Error", {}).get("Code") in ("SlowDown", "RequestTimeout")
    return False


def check_key(key: str) -> str:
    """A relative "/"-separated key without empty, "." or ".." segments (the same rule for every store)."""
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in key.rstrip("/").split("/")):
        raise ValueError(f"blob key escapes the store or is malformed: {key!r}")
    return key


def content_etag(data: bytes) -> str:
    """S3's ETag of a single-part upload: the quoted MD5 of the content."""
    return f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'


class BlobWriter:
    """A new blob streamed in chunks: nothing is visible under its key until `commit`, and `close` without a commit
    leaves nothing behind. Past `max_bytes`, `write` raises TooLarge and drops what it had."""

    def __init__(self, key: str, max_bytes: int):
        self.key, self.max_bytes, self.size = key, max_bytes, 0
        self.committed = self.closed = False

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            self.close()
            raise TooLarge(self.key, self.max_bytes)
        self._write(chunk)

    def commit(self, if_absent: bool = False) -> int:
        """Make the blob visible; with `if_absent`, PreconditionFailed when one is there already. Returns its size."""
        try:
            self._commit(if_absent)
            self.committed = True
        finally:
            self.close()
        return self.size

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._discard()

    def _write(self, chunk: bytes) -> None:
        raise NotImplementedError

    def _commit(self, if_absent: bool) -> None:
        raise NotImplementedError

    def _discard(self) -> None:
        raise NotImplementedError


class _BlobStore:
    """What both stores share: the tombstone guard on every write, and the tombstones themselves."""

    def _write(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def _write_if(self, key: str, data: bytes, etag: str | None) -> str:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def delete(self, key: str) -> bool:
        raise NotImplementedError

    def put(self, key: str, data: bytes) -> str:
        """Write (or replace) a blob; OrderDeleted when its order is deleted. Returns the key."""
        self._guarded(key, lambda: self._write(key, data))
        return key

    def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        """Write only if the blob's ETag is still `etag` (None: only if it does not exist); returns the new ETag.

        PreconditionFailed when another writer got there first.
        """
        return self._guarded(key, lambda: self._write_if(key, data, etag))

    def _guarded(self, key: str, write: Callable[[], T]) -> T:
        order_id = blob_layout.order_id_of(key)
        if order_id is None:
            return write()
        if self.is_deleted(order_id):
            raise OrderDeleted(order_id)
        result = write()
        if self.is_deleted(order_id):  # the order was deleted while we wrote: take the write back
            self.delete(key)
            raise OrderDeleted(order_id)
        return result

    def mark_deleted(self, order_id: str, reason: str) -> None:
        """Write the order's tombstone: from now on no write under its prefix can succeed."""
        record = {"order_id": order_id, "reason": reason, "deleted_at": time.time()}
        self._write(blob_layout.tombstone_key(order_id), json.dumps(record).encode())

    def is_deleted(self, order_id: str) -> bool:
        return self.exists(blob_layout.tombstone_key(order_id))


class _LocalWriter(BlobWriter):
    """Chunks go to a hidden temp file beside the blob (never listed; deleting the blob's prefix removes it)."""

    def __init__(self, store: LocalBlobStore, key: str, max_bytes: int):
        super().__init__(key, max_bytes)
        self.store, self.path = store, store._path(key)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-")
        self.tmp, self.file = Path(tmp), os.fdopen(fd, "wb")

    def _write(self, chunk: bytes) -> None:
        self.file.write(chunk)

    def _commit(self, if_absent: bool) -> None:
        self.file.close()

        def publish() -> None:
            with self.store._locked(self.key):
                if if_absent and self.path.exists():
                    raise PreconditionFailed(f"{self.key}: expected no blob, found one")
                os.replace(self.tmp, self.path)

        self.store._guarded(self.key, publish)

    def _discard(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


class LocalBlobStore(_BlobStore):
    """Blobs as files under one root directory; writes are atomic (temp file + rename)."""

    LOCKS = ".locks"  # per-key lock files for conditional writes (never listed as blobs)

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if self.root not in path.parents:
            raise ValueError(f"blob key escapes the store: {key!r}")
        return path

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        """Serialise writers of one key across processes (flock on a lock file of its own)."""
        locks = self.root / self.LOCKS
        locks.mkdir(exist_ok=True)
        with open(locks / hashlib.sha256(key.encode()).hexdigest()[:40], "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _replace(self, path: Path, data: bytes, attempts: int = 5) -> None:
        for attempt in range(attempts):
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            except FileNotFoundError:  # a deletion removed the folder between mkdir and here: make it again
                if attempt == attempts - 1:
                    raise
                continue
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
                return
            except FileNotFoundError:  # the folder (and the temp file with it) went while we wrote
                if attempt == attempts - 1:
                    raise
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def _write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        with self._locked(key):
            self._replace(path, data)

    def _write_if(self, key: str, data: bytes, etag: str | None) -> str:
        path = self._path(key)
        with self._locked(key):
            current = content_etag(path.read_bytes()) if path.is_file() else None
            if current != etag:
                raise PreconditionFailed(
                    f"{key}: expected {'no blob' if etag is None else etag}, found "
                    f"{'no blob' if current is None else current}"
                )
            self._replace(path, data)
        return content_etag(data)

    def open_writer(self, key: str, max_bytes: int) -> BlobWriter:
        return _LocalWriter(self, key, max_bytes)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        data = self.get(key)
        return data, content_etag(data)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        """The blob's size in bytes; BlobNotFound when there is none."""
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def modified_before(self, prefix: str, cutoff: float) -> list[str]:
        """Keys under `prefix` last written before `cutoff` (epoch seconds), partial writes (hidden temp files)
        included: what a writer killed mid-write or never taken up left behind."""
        base = self._path(prefix)
        if not base.exists():
            return []
        found = []
        for path in base.rglob("*"):
            with contextlib.suppress(FileNotFoundError):  # removed meanwhile
                if path.is_file() and path.stat().st_mtime < cutoff:
                    found.append(str(path.relative_to(self.root)))
        return sorted(found)

    def local_path(self, key: str) -> Path:
        """The file holding the blob (this store keeps blobs as files; tests and tools read them directly)."""
        path = self._path(key)
        if not path.is_file():
            raise BlobNotFound(key)
        return path

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.exists():
            return []
        keys = (p.relative_to(self.root) for p in base.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))
        return sorted(str(k) for k in keys if k.parts[0] != self.LOCKS)

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
            shutil.rmtree(base, ignore_errors=True)
            for key in self.list(prefix):  # written while the tree was removed
                self.delete(key)
        elif base.is_file():
            base.unlink()
        return len(keys)


class _S3Writer(BlobWriter):
    """Chunks are held in memory (at most `max_bytes`, never on local disk) and sent as one PUT on commit."""

    def __init__(self, store: S3BlobStore, key: str, max_bytes: int):
        super().__init__(key, max_bytes)
        self.store, self.buffer = store, io.BytesIO()

    def _write(self, chunk: bytes) -> None:
        self.buffer.write(chunk)

    def _commit(self, if_absent: bool) -> None:
        data = self.buffer.getvalue()
        if if_absent:
            self.store.put_if(self.key, data, None)
        else:
            self.store.put(self.key, data)

    def _discard(self) -> None:
        self.buffer = io.BytesIO()


class S3BlobStore(_BlobStore):
    """Blobs as objects under `prefix` in an S3 bucket. A PUT is atomic by itself in S3."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None):
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client or boto3.client("s3")

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    @staticmethod
    def _error_code(exc: Exception) -> str:
        return getattr(exc, "response", {}).get("Error", {}).get("Code", "")

    @classmethod
    def _is_missing(cls, exc: Exception) -> bool:
        # botocore's ClientError: GET answers NoSuchKey, HEAD (no body) a bare 404.
        return cls._error_code(exc) in ("404", "NoSuchKey", "NotFound")

    def _write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def _write_if(self, key: str, data: bytes, etag: str | None) -> str:
        condition = {"IfNoneMatch": "*"} if etag is None else {"IfMatch": etag}
        try:
            return self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **condition)["ETag"]
        except Exception as exc:
            # 412 when the condition failed; 409 when a concurrent conditional write is in flight.
            if self._error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                raise PreconditionFailed(f"{key}: another writer changed it first") from None
            if etag is not None and self._is_missing(exc):
                raise PreconditionFailed(f"{key}: expected {etag}, found no blob") from None
            raise

    def open_writer(self, key: str, max_bytes: int) -> BlobWriter:
        return _S3Writer(self, key, max_bytes)

    def presigned_post(self, key: str, max_bytes: int, expires_s: int) -> dict[str, Any]:
        """A form upload straight to the bucket (`url` and `fields`): one object at `key`, at most `max_bytes`,
        accepted until `expires_s` from now (S3 refuses the rest with 403 or 400)."""
        return self.client.generate_presigned_post(
            Bucket=self.bucket,
            Key=self._key(key),
            Conditions=[["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_s,
        )

    def size(self, key: str) -> int:
        """The blob's size in bytes; BlobNotFound when there is none."""
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"])
        except Exception as exc:
            if self._is_missing(exc):
                raise BlobNotFound(key) from None
            raise

    def modified_before(self, prefix: str, cutoff: float) -> list[str]:
        """Keys under `prefix` last written before `cutoff` (epoch seconds)."""
        full = self.prefix + check_key(prefix)
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            keys.extend(
                item["Key"][len(self.prefix) :]
                for item in page.get("Contents", ())
                if item["LastModified"].timestamp() < cutoff
            )
        return sorted(keys)

    def get(self, key: str) -> bytes:
        return self.get_with_etag(key)[0]

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if self._is_missing(exc):
                raise BlobNotFound(key) from None
            raise
        return response["Body"].read(), response["ETag"]

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except Exception as exc:
            if self._is_missing(exc):
                return False
            raise

    def list(self, prefix: str) -> list[str]:
        full = self.prefix + (check_key(prefix) if prefix else "")
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", ()))
        return sorted(keys)

    def delete(self, key: str) -> bool:
        existed = self.exists(key)
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        return existed

    def delete_prefix(self, prefix: str) -> int:
        """Delete every blob under `prefix` (1,000 per request, S3's limit); returns how many were deleted."""
        keys = self.list(prefix)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": self.prefix + k} for k in keys[start : start + 1000]]
            result = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            if result.get("Errors"):
                first = result["Errors"][0]
                raise OSError(
                    f"S3 refused to delete {len(result['Errors'])} blobs, e.g. {first['Key']}: "
                    f"{first.get('Code')} {first.get('Message')}"
                )
        return len(keys)


BlobStore = LocalBlobStore | S3BlobStore


def open_blob_store(url: str) -> BlobStore:
    """`file:///dir` or `s3://bucket[/prefix]`."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalBlobStore(parsed.path)
    if parsed.scheme == "s3" and parsed.netloc:
        return S3BlobStore(parsed.netloc, parsed.path)
    raise ValueError(f"unsupported blob store URL {url!r}: use file:///path or s3://bucket/prefix")

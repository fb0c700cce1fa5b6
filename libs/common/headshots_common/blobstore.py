"""The blob store for photos, adapters and headshots, addressed by immutable keys.

`file://DIR` is the local default; `s3://bucket/prefix` in the cluster (any S3-compatible
service: AWS, MinIO, Ceph; boto3 reads the endpoint, region and credentials from the standard
AWS_* environment variables). Which key holds what is `blob_layout`'s business alone. Both
stores behave the same: the tests run one contract against each.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse


class BlobNotFound(KeyError):
    pass


def check_key(key: str) -> str:
    """A relative "/"-separated key without empty, "." or ".." segments (the same rule for every store)."""
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in key.rstrip("/").split("/")):
        raise ValueError(f"blob key escapes the store or is malformed: {key!r}")
    return key


class LocalBlobStore:
    """Blobs as files under one root directory; writes are atomic (temp file + rename)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
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


class S3BlobStore:
    """Blobs as objects under `prefix` in an S3 bucket. A PUT is atomic by itself in S3.

    `local_path` downloads to `cache_dir` (libraries such as diffusers want a file) and reuses
    the copy while the object's ETag is unchanged.
    """

    def __init__(self, bucket: str, prefix: str = "", cache_dir: str | os.PathLike | None = None, client=None):
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client or boto3.client("s3")
        self.cache_dir = Path(cache_dir or Path(tempfile.gettempdir()) / "headshots-blob-cache") / bucket

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    @staticmethod
    def _is_missing(exc: Exception) -> bool:
        # botocore's ClientError: GET answers NoSuchKey, HEAD (no body) a bare 404.
        return getattr(exc, "response", {}).get("Error", {}).get("Code", "") in ("404", "NoSuchKey", "NotFound")

    def put(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return key

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except Exception as exc:
            if self._is_missing(exc):
                raise BlobNotFound(key) from None
            raise

    def _head(self, key: str) -> dict | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if self._is_missing(exc):
                return None
            raise

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def local_path(self, key: str) -> Path:
        head = self._head(key)
        if head is None:
            raise BlobNotFound(key)
        path = self.cache_dir / self._key(key)
        etag_file = path.with_name(path.name + ".etag")
        if path.is_file() and etag_file.is_file() and etag_file.read_text() == head["ETag"]:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                self.client.download_fileobj(self.bucket, self._key(key), f)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        etag_file.write_text(head["ETag"])
        return path

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


def open_blob_store(url: str, cache_dir: str | os.PathLike | None = None) -> BlobStore:
    """`file:///dir` or `s3://bucket[/prefix]`; `cache_dir` holds local copies of S3 blobs."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalBlobStore(parsed.path)
    if parsed.scheme == "s3" and parsed.netloc:
        return S3BlobStore(parsed.netloc, parsed.path, cache_dir)
    raise ValueError(f"unsupported blob store URL {url!r}: use file:///path or s3://bucket/prefix")

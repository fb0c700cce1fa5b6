"""Streamed writes (`open_writer`), as uploads use them, in both stores: a blob appears whole or not at all, a
stream over its size is dropped, a second writer of a write-once blob is refused, and a deleted order takes
nothing."""

from __future__ import annotations

import time
import uuid

import pytest

from headshots_common import blob_layout
from headshots_common.blobstore import OrderDeleted, PreconditionFailed, TooLarge, open_blob_store


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path):
    if request.param == "file":
        return open_blob_store(f"file://{tmp_path / 'blobs'}")
    import boto3
    from stack_support import boto_args

    s3 = request.getfixturevalue("s3_server")
    bucket = f"writer-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", **boto_args(s3))
    client.create_bucket(Bucket=bucket)
    store = open_blob_store(f"s3://{bucket}/p")
    store.client = client
    return store


KEY = blob_layout.quarantine_key("o1", "p1")


def test_a_streamed_blob_appears_only_when_committed(store):
    writer = store.open_writer(KEY, max_bytes=100)
    writer.write(b"a" * 40)
    writer.write(b"b" * 40)
    assert store.list(blob_layout.order_prefix("o1")) == []
    assert writer.commit() == 80
    assert store.get(KEY) == b"a" * 40 + b"b" * 40 and store.size(KEY) == 80


def test_a_stream_over_its_size_is_dropped_whole(store):
    writer = store.open_writer(KEY, max_bytes=100)
    writer.write(b"a" * 60)
    with pytest.raises(TooLarge):
        writer.write(b"b" * 60)
    assert store.list(blob_layout.order_prefix("o1")) == []
    assert store.modified_before(blob_layout.order_prefix("o1"), time.time() + 60) == []


def test_a_closed_writer_leaves_nothing(store):
    writer = store.open_writer(KEY, max_bytes=100)
    writer.write(b"partial")
    writer.close()
    assert store.modified_before(blob_layout.order_prefix("o1"), time.time() + 60) == []


def test_a_write_once_blob_refuses_a_second_writer(store):
    first, second = store.open_writer(KEY, max_bytes=100), store.open_writer(KEY, max_bytes=100)
    first.write(b"first")
    second.write(b"second")
    first.commit(if_absent=True)
    with pytest.raises(PreconditionFailed):
        second.commit(if_absent=True)
    assert store.get(KEY) == b"first"


def test_a_deleted_order_takes_no_streamed_blob(store):
    writer = store.open_writer(KEY, max_bytes=100)
    writer.write(b"late")
    store.mark_deleted("o1", "user_request")
    with pytest.raises(OrderDeleted):
        writer.commit()
    assert store.list(blob_layout.order_prefix("o1")) == []


def test_leftovers_are_found_by_age(store):
    store.put(KEY, b"old")
    assert store.modified_before(blob_layout.quarantine_prefix("o1"), time.time() - 3600) == []
    assert store.modified_before(blob_layout.quarantine_prefix("o1"), time.time() + 60) == [KEY]

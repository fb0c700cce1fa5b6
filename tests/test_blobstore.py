"""One contract for both blob stores: local files, and S3 over HTTP (an S3-compatible server on 127.0.0.1).

Guarantees are shown with several real processes at once: compare-and-swap loses no update, and a write
racing an order's deletion never leaves a blob behind.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import uuid

import pytest

from headshots_common import blob_layout
from headshots_common.blobstore import (
    BlobNotFound,
    LocalBlobStore,
    OrderDeleted,
    PreconditionFailed,
    S3BlobStore,
    content_etag,
    open_blob_store,
)

PROCESSES = 4


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """The AWS_* variables the chart sets, and a fresh bucket per test."""
    import boto3

    for name, value in s3_server.items():
        monkeypatch.setenv(name, value)
    bucket = f"headshots-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture(params=["file", "s3"])
def store_url(request, tmp_path) -> str:
    if request.param == "file":
        return f"file://{tmp_path / 'blobs'}"
    return f"s3://{request.getfixturevalue('s3_env')}/env/prod"


@pytest.fixture
def store(store_url):
    return open_blob_store(store_url)


def test_put_get_exists_and_missing(store):
    assert store.put("orders/o1/photos/a.jpg", b"jpeg bytes") == "orders/o1/photos/a.jpg"
    assert store.get("orders/o1/photos/a.jpg") == b"jpeg bytes" and store.exists("orders/o1/photos/a.jpg")
    assert store.get_with_etag("orders/o1/photos/a.jpg") == (b"jpeg bytes", content_etag(b"jpeg bytes"))
    assert not store.exists("orders/o1/photos/b.jpg")
    with pytest.raises(BlobNotFound):
        store.get("orders/o1/photos/b.jpg")
    store.put("orders/o1/photos/a.jpg", b"replaced")
    assert store.get("orders/o1/photos/a.jpg") == b"replaced"


def test_list_and_delete_an_orders_prefix_only(store):
    for key in (
        "orders/o1/photos/a.jpg",
        "orders/o1/adapter/lora.safetensors",
        "orders/o10/photos/a.jpg",
        "orders/o2/photos/a.jpg",
    ):
        store.put(key, key.encode())
    store.put_if("orders/o3/training/job.json", b"{}", None)  # conditional writes leave nothing else behind
    assert store.list("orders/o1/") == ["orders/o1/adapter/lora.safetensors", "orders/o1/photos/a.jpg"]
    assert store.delete_prefix("orders/o1/") == 2
    assert store.list("") == ["orders/o10/photos/a.jpg", "orders/o2/photos/a.jpg", "orders/o3/training/job.json"]
    assert store.delete("orders/o2/photos/a.jpg") is True and store.delete("orders/o2/photos/a.jpg") is False


@pytest.mark.parametrize("key", ["../etc/passwd", "orders/../../x", "/abs", "orders//x", ""])
def test_keys_cannot_escape_the_store(store, key):
    with pytest.raises(ValueError, match="blob key"):
        store.put(key, b"x")


def test_conditional_writes_refuse_a_stale_or_duplicate_writer(store):
    key = "orders/o1/training/job.json"
    first = store.put_if(key, b"v1", None)
    with pytest.raises(PreconditionFailed):
        store.put_if(key, b"someone else's v1", None)  # create-only: the blob exists
    second = store.put_if(key, b"v2", first)
    with pytest.raises(PreconditionFailed):
        store.put_if(key, b"stale v2", first)  # written from an old read
    assert store.get_with_etag(key) == (b"v2", second)
    with pytest.raises(PreconditionFailed):
        store.put_if("orders/o1/training/absent.json", b"x", second)  # If-Match on a missing blob


def _increment(url: str, key: str, times: int, env: dict[str, str]) -> None:
    os.environ.update(env)
    store = open_blob_store(url)
    for _ in range(times):
        while True:
            try:
                data, etag = store.get_with_etag(key)
                store.put_if(key, str(int(data) + 1).encode(), etag)
                break
            except PreconditionFailed:
                continue


def test_compare_and_swap_loses_no_update_across_processes(store, store_url, s3_server):
    key = "orders/o1/training/counter"
    store.put_if(key, b"0", None)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_increment, args=(store_url, key, 15, s3_server)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    assert int(store.get(key)) == PROCESSES * 15


def test_a_deleted_order_takes_no_write_and_other_orders_are_untouched(store):
    store.put("orders/o1/photos/a.jpg", b"a")
    store.mark_deleted("o1", "user_request")
    store.delete_prefix(blob_layout.order_prefix("o1"))
    for write in (
        lambda: store.put("orders/o1/photos/b.jpg", b"b"),
        lambda: store.put_if("orders/o1/training/job.json", b"{}", None),
    ):
        with pytest.raises(OrderDeleted):
            write()
    assert store.list("orders/o1/") == [] and store.is_deleted("o1") and not store.is_deleted("o2")
    store.put("orders/o2/photos/a.jpg", b"a")
    store.put("priors/m/person/128/000.png", b"shared")  # outside every order: never guarded
    assert store.list("") == ["orders/o2/photos/a.jpg", "priors/m/person/128/000.png", "tombstones/o1"]


def test_a_write_in_flight_when_the_order_is_deleted_is_taken_back(tmp_path):
    class DeletedMidWrite(LocalBlobStore):
        def _write(self, key, data):
            super()._write(key, data)
            if key.startswith("orders/"):  # the deletion lands between the write and its check
                self.mark_deleted("o1", "user_request")
                self.delete_prefix("orders/o1/")

    store = DeletedMidWrite(tmp_path / "blobs")
    with pytest.raises(OrderDeleted):
        store.put("orders/o1/adapter/pytorch_lora_weights.safetensors", b"adapter")
    assert store.list("orders/o1/") == []


def _keep_writing(url: str, order_id: str, env: dict[str, str], stop_after: int) -> None:
    os.environ.update(env)
    store = open_blob_store(url)
    for i in range(stop_after):
        try:
            store.put(blob_layout.checkpoint_key(order_id, 1, 4), os.urandom(256))
            store.put(blob_layout.headshot_key(order_id, "pack", "tech-grey", i), b"png")
        except OrderDeleted:
            return


def test_writers_racing_a_deletion_in_other_processes_leave_nothing_behind(store, store_url, s3_server):
    context = multiprocessing.get_context("spawn")
    for attempt in range(3):
        order_id = f"race-{attempt}"
        writers = [context.Process(target=_keep_writing, args=(store_url, order_id, s3_server, 400)) for _ in range(2)]
        for writer in writers:
            writer.start()
        deadline = time.monotonic() + 60
        while not store.list(blob_layout.order_prefix(order_id)):  # delete while they are writing
            assert time.monotonic() < deadline, "the writers never wrote"
        store.mark_deleted(order_id, "user_request")
        store.delete_prefix(blob_layout.order_prefix(order_id))
        for writer in writers:
            writer.join(timeout=120)
            assert writer.exitcode == 0
        assert store.list(blob_layout.order_prefix(order_id)) == [], "a late write came back"


def test_the_s3_store_keeps_to_its_prefix_and_pages_past_1000(s3_env):
    import boto3

    client = boto3.client("s3")
    client.put_object(Bucket=s3_env, Key="other-app/keep.txt", Body=b"not ours")
    store = open_blob_store(f"s3://{s3_env}/headshots")
    assert isinstance(store, S3BlobStore)
    keys = [f"orders/big/headshots/{i:04d}.png" for i in range(1005)]
    threads = [
        threading.Thread(target=lambda ks: [store.put(k, b"png") for k in ks], args=(keys[i::5],)) for i in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.get_object(Bucket=s3_env, Key="headshots/" + keys[0])["Body"].read() == b"png"
    assert store.list("orders/big/") == keys  # more than one page of list_objects_v2
    assert store.delete_prefix("orders/big/") == 1005  # more than one delete_objects request
    assert [o["Key"] for o in client.list_objects_v2(Bucket=s3_env)["Contents"]] == ["other-app/keep.txt"]


def test_unsupported_urls_are_refused(tmp_path):
    assert isinstance(open_blob_store(f"file://{tmp_path}"), LocalBlobStore)
    for url in ("gs://bucket/x", "s3:///no-bucket", "blobs"):
        with pytest.raises(ValueError, match="unsupported blob store URL"):
            open_blob_store(url)

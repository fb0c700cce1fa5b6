"""One contract for both blob stores: local files, and S3 over HTTP (an S3-compatible server on 127.0.0.1)."""

from __future__ import annotations

import threading
import uuid

import pytest

from headshots_common.blobstore import BlobNotFound, LocalBlobStore, S3BlobStore, open_blob_store


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
def store(request, tmp_path):
    if request.param == "file":
        return open_blob_store(f"file://{tmp_path / 'blobs'}")
    bucket = request.getfixturevalue("s3_env")
    return open_blob_store(f"s3://{bucket}/env/prod", cache_dir=tmp_path / "cache")


def test_put_get_exists_and_missing(store):
    assert store.put("orders/o1/photos/a.jpg", b"jpeg bytes") == "orders/o1/photos/a.jpg"
    assert store.get("orders/o1/photos/a.jpg") == b"jpeg bytes" and store.exists("orders/o1/photos/a.jpg")
    assert not store.exists("orders/o1/photos/b.jpg")
    with pytest.raises(BlobNotFound):
        store.get("orders/o1/photos/b.jpg")
    with pytest.raises(BlobNotFound):
        store.local_path("orders/o1/photos/b.jpg")
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
    assert store.list("orders/o1/") == ["orders/o1/adapter/lora.safetensors", "orders/o1/photos/a.jpg"]
    assert store.delete_prefix("orders/o1/") == 2
    assert store.list("orders/o1/") == [] and store.list("orders/") == [
        "orders/o10/photos/a.jpg",
        "orders/o2/photos/a.jpg",
    ]
    assert store.delete("orders/o2/photos/a.jpg") is True and store.delete("orders/o2/photos/a.jpg") is False


def test_local_path_is_a_file_with_the_blob_and_follows_a_replaced_blob(store):
    store.put("orders/o1/adapter/pytorch_lora_weights.safetensors", b"v1")
    path = store.local_path("orders/o1/adapter/pytorch_lora_weights.safetensors")
    assert path.read_bytes() == b"v1" and path.name == "pytorch_lora_weights.safetensors"
    store.put("orders/o1/adapter/pytorch_lora_weights.safetensors", b"version 2")
    assert store.local_path("orders/o1/adapter/pytorch_lora_weights.safetensors").read_bytes() == b"version 2"


@pytest.mark.parametrize("key", ["../etc/passwd", "orders/../../x", "/abs", "orders//x", ""])
def test_keys_cannot_escape_the_store(store, key):
    with pytest.raises(ValueError, match="blob key"):
        store.put(key, b"x")


def test_the_s3_store_keeps_to_its_prefix_and_pages_past_1000(s3_env, tmp_path):
    import boto3

    client = boto3.client("s3")
    client.put_object(Bucket=s3_env, Key="other-app/keep.txt", Body=b"not ours")
    store = open_blob_store(f"s3://{s3_env}/headshots", cache_dir=tmp_path)
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

"""Checkpoints are fenced like the job record: a trainer whose lease was taken over can neither overwrite nor
delete the checkpoint its successor resumes from (two and three real processes, each a TrainingJobStore user,
interleaved as in a lease takeover; local files and S3 over HTTP)."""

from __future__ import annotations

import time
import uuid

import pytest
from trainer_test_support import JobStoreError, JobStoreUser

from headshots_common import blob_layout
from headshots_common.blobstore import open_blob_store

LEASE_S = 1.0


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path):
    """(url, env) of a store every process opens: local files, or a fresh bucket on the S3 server."""
    if request.param == "file":
        return f"file://{tmp_path / 'blobs'}", {}
    import boto3

    env = request.getfixturevalue("s3_server")
    bucket = f"fencing-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    ).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/t", env


@pytest.fixture
def users(store):
    url, env = store
    started: list[JobStoreUser] = []

    def start() -> JobStoreUser:
        started.append(JobStoreUser(url, env, LEASE_S))
        return started[-1]

    yield start
    for user in started:
        user.close()


def _checkpoints(store, order_id: str) -> list[str]:
    url, env = store
    import os

    os.environ.update(env)
    blobs = open_blob_store(url)
    return [k for k in blobs.list(blob_layout.training_prefix(order_id)) if blob_layout.is_checkpoint_key(order_id, k)]


def test_a_fenced_out_holder_can_neither_overwrite_nor_delete_what_its_successor_resumes_from(users, store):
    order_id = f"fence-{uuid.uuid4().hex[:8]}"
    first, second, third = users(), users(), users()

    assert first("acquire", order_id, "first") == 1
    first("save_checkpoint", 4, b"first run, step 4")
    time.sleep(LEASE_S + 0.2)  # the first holder stalls: its lease lapses
    assert second("acquire", order_id, "second") == 2, "the second took the job over"

    # The first wakes up and saves its next checkpoint, still believing it holds the job.
    with pytest.raises(JobStoreError) as refused:
        first("save_checkpoint", 8, b"first run, step 8")
    assert refused.value.kind == "LeaseLost"
    assert second("load_checkpoint") == b"first run, step 4", "the takeover resumes from the last fenced checkpoint"

    second("save_checkpoint", 12, b"second run, step 12")
    with pytest.raises(JobStoreError):
        first("save_checkpoint", 12, b"first run, step 12")
    first("clean_up")  # a stale holder's clean-up: the job is not over, so nothing goes
    assert second("load_checkpoint") == b"second run, step 12"

    time.sleep(LEASE_S + 0.2)  # the second stalls too; a third process takes over from its checkpoint
    assert third("acquire", order_id, "third") == 3
    assert third("load_checkpoint") == b"second run, step 12"
    assert len(_checkpoints(store, order_id)) == 1, "superseded checkpoints are cleaned up, the live one kept"


def test_the_checkpoints_go_once_the_job_is_over(users, store):
    order_id = f"fence-{uuid.uuid4().hex[:8]}"
    holder = users()
    assert holder("acquire", order_id, "holder") == 1
    holder("save_checkpoint", 4, b"step 4")
    holder("clean_up")
    assert len(_checkpoints(store, order_id)) == 1, "a job still running keeps its checkpoint"
    holder("fail", "cancelled at step 4")
    holder("clean_up")
    assert _checkpoints(store, order_id) == []

"""A blob-store outage mid-training is ridden out: the trainer waits and tries again, resumes from its last
checkpoint, and completes the order; it neither fails it nor exits (S3 over HTTP behind a proxy that answers
every request 503 for a while, as S3 does when it sheds load)."""

from __future__ import annotations

import signal
import time
import uuid

import pytest
from trainer_test_support import new_order_id, order_submitted, publish_order, start_worker, upload_photos, worker_env

from headshots.v1 import trainer_service_pb2 as pb
from headshots_common import bus
from headshots_common.blobstore import S3BlobStore
from headshots_tools.faultproxy import FaultProxy
from trainer.training_jobs import TrainingJobStore

OUTAGE_S = 8.0


@pytest.fixture
def bucket(s3_server):
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_server["AWS_ENDPOINT_URL"],
        aws_access_key_id=s3_server["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3_server["AWS_SECRET_ACCESS_KEY"],
        region_name=s3_server["AWS_DEFAULT_REGION"],
    )
    name = f"outage-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return name, client


@pytest.fixture
def proxy(s3_server):
    host, port = s3_server["AWS_ENDPOINT_URL"].removeprefix("http://").split(":")
    proxy = FaultProxy(host, int(port)).start()
    yield proxy
    proxy.stop()


def test_a_blob_store_outage_mid_training_is_ridden_out(
    kafka_bootstrap, tiny_model, person_photos, training_events, tmp_path, s3_server, bucket, proxy
):
    name, client = bucket
    env = worker_env(
        kafka_bootstrap,
        tiny_model,
        tmp_path,
        new_order_id("outage-group"),
        HEADSHOTS_TRAIN_STEPS="60",
        HEADSHOTS_TRAIN_CHECKPOINT_EVERY="5",
        HEADSHOTS_TRAINER_LEASE_S="30",
    )
    env.update(s3_server, AWS_ENDPOINT_URL=proxy.url, HEADSHOTS_BLOB_URL=f"s3://{name}/t")  # through the proxy
    blobs = S3BlobStore(name, "t", client=client)  # the test's own view, past the proxy
    jobs = TrainingJobStore(blobs)
    order_id = new_order_id("outage")
    publisher = bus.Publisher(kafka_bootstrap)
    publish_order(publisher, order_id, order_submitted(upload_photos(blobs, order_id, person_photos[:3])))
    publisher.close()

    worker = start_worker(env, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 120
        while not ((job := jobs.load(order_id)) and job.checkpoint_step):
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.05)
        proxy.outage(OUTAGE_S)
        time.sleep(OUTAGE_S)
        assert proxy.refused, "the worker met the outage"

        event = training_events.wait_for(order_id, timeout_s=150)
        assert bus.payload_kind(event) == "training_completed", event
        assert worker.poll() is None, "the worker rode the outage out without exiting"
        done = jobs.load(order_id)
        assert done.training.state == pb.TRAINING_STATE_SUCCEEDED
        assert all(run.from_step >= run.saved_step for run in done.runs), "every run resumed what was saved"
        assert [p.step for p in training_events.of(order_id, "training_progress")].count(1) == 1, "trained once"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)

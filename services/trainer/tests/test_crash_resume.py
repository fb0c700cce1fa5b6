"""A worker killed with SIGKILL mid-training: its successor resumes from the last checkpoint and completes."""

from __future__ import annotations

import json
import signal
import time

from trainer_test_support import new_order_id, order_submitted, publish_order, start_worker, upload_photos, worker_env

from headshots_common import blob_layout, bus
from headshots_common.blobstore import open_blob_store
from trainer.training_jobs import TrainingJobStore

STEPS, CHECKPOINT_EVERY = 40, 5


def test_a_killed_worker_resumes_from_its_checkpoint(
    kafka_bootstrap, tiny_model, person_photos, training_events, tmp_path
):
    env = worker_env(
        kafka_bootstrap,
        tiny_model,
        tmp_path,
        new_order_id("crash-group"),
        HEADSHOTS_TRAIN_STEPS=str(STEPS),
        HEADSHOTS_TRAIN_CHECKPOINT_EVERY=str(CHECKPOINT_EVERY),
        HEADSHOTS_TRAINER_LEASE_S="4",  # the killed worker's lease lapses soon after it dies
    )
    blobs = open_blob_store(env["HEADSHOTS_BLOB_URL"])
    jobs = TrainingJobStore(blobs)
    order_id = new_order_id("crash")
    publisher = bus.Publisher(kafka_bootstrap)
    publish_order(publisher, order_id, order_submitted(upload_photos(blobs, order_id, person_photos[:3])))
    publisher.close()

    first = start_worker(env, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 120
        while not ((job := jobs.load(order_id)) and job.checkpoint_token):
            assert first.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    assert not training_events.of(order_id, "training_completed"), "killed too late: the job had finished"

    # The killed worker's last events may still be on their way: tell the runs apart by when they were made.
    restarted_at = time.time()
    second = start_worker(env, tmp_path / "worker.log")
    try:
        event = training_events.wait_for(order_id, timeout_s=150)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert bus.payload_kind(event) == "training_completed", event
    job = jobs.load(order_id)
    assert job.lease.token == 2, "the restarted worker took the dead one's lease over"
    manifest = json.loads(blobs.get(job.training.result.manifest_key))
    assert manifest["adapter_key"] == blob_layout.adapter_key(order_id, 2)
    assert manifest["steps"] == STEPS
    assert CHECKPOINT_EVERY <= manifest["resumed_from_step"] < STEPS, "trained fewer steps than starting over"
    after_restart = [
        e.training_progress.step
        for e in training_events.of(order_id)
        if bus.payload_kind(e) == "training_progress" and e.occur_time.ToNanoseconds() / 1e9 >= restarted_at
    ]
    assert after_restart and min(after_restart) > 1 and after_restart[-1] == STEPS
    assert min(after_restart) == manifest["resumed_from_step"] + 1
    assert len(training_events.of(order_id, "training_completed")) == 1

"""Exactly once across real worker processes: a stalled worker's job is taken over from its checkpoint and never
trained twice, and a deleted order's training stops within seconds and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import time

from trainer_test_support import new_order_id, order_submitted, publish_order, start_worker, upload_photos, worker_env

from headshots.v1 import trainer_service_pb2 as pb
from headshots_common import blob_layout, bus
from headshots_common.adapter_format import ADAPTER_FILE_NAME
from headshots_common.blobstore import open_blob_store
from trainer.training_jobs import TrainingJobStore

LEASE_S = 3


def _wait(condition, timeout_s: float, what: str, processes=()):
    deadline = time.monotonic() + timeout_s
    while not (result := condition()):
        for process in processes:
            assert process.poll() is None, f"a worker exited while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return result


def _holder_pid(holder: str) -> int:
    return int(holder.split("-")[-2])  # "<host>-<pid>-<worker>"


def test_a_stalled_workers_job_is_taken_over_and_trained_once(
    kafka_bootstrap, tiny_model, person_photos, training_events, tmp_path
):
    env = worker_env(
        kafka_bootstrap,
        tiny_model,
        tmp_path,
        new_order_id("lease-group"),
        HEADSHOTS_TRAIN_STEPS="60",
        HEADSHOTS_TRAIN_CHECKPOINT_EVERY="5",
        HEADSHOTS_TRAINER_LEASE_S=str(LEASE_S),
    )
    blobs = open_blob_store(env["HEADSHOTS_BLOB_URL"])
    jobs = TrainingJobStore(blobs)
    workers = {}
    for name in ("a", "b"):
        process = start_worker(env, tmp_path / f"worker-{name}.log")
        workers[process.pid] = process
    try:
        order_id = new_order_id("stall")
        publisher = bus.Publisher(kafka_bootstrap)
        publish_order(publisher, order_id, order_submitted(upload_photos(blobs, order_id, person_photos[:3])))
        publisher.close()

        job = _wait(
            lambda: (j := jobs.load(order_id)) and j.checkpoint_token and j, 180, "a checkpoint", workers.values()
        )
        stalled = workers[_holder_pid(job.lease.holder)]
        stalled.send_signal(signal.SIGSTOP)  # hangs mid-job: it stops heartbeating and renewing its lease
        stalled_at = time.time()
        other = next(p for p in workers.values() if p is not stalled)

        event = training_events.wait_for(order_id, timeout_s=180)
        assert bus.payload_kind(event) == "training_completed", event
        done = jobs.load(order_id)
        assert done.training.state == pb.TRAINING_STATE_SUCCEEDED and done.lease.token == 2
        assert _holder_pid(done.lease.holder) == other.pid, "the other worker finished the job"

        stalled.send_signal(signal.SIGCONT)  # wakes up believing it still holds the job
        _wait(
            lambda: (
                "was taken over"
                in (tmp_path / f"worker-{'ab'[list(workers).index(stalled.pid)]}.log").read_text(errors="replace")
            ),
            60,
            "the stalled worker to find its lease gone",
            workers.values(),
        )
        time.sleep(2)
        adapters = [k for k in blobs.list(blob_layout.adapter_prefix(order_id)) if k.endswith(ADAPTER_FILE_NAME)]
        assert adapters == [blob_layout.adapter_key(order_id, 2)], "exactly one adapter, the takeover's"
        assert len(training_events.of(order_id, "training_completed")) == 1
        progress = training_events.of(order_id, "training_progress")
        assert [p.step for p in progress].count(1) == 1, "training started once; the takeover resumed"
        resumed = [
            e.training_progress.step
            for e in training_events.of(order_id)
            if bus.payload_kind(e) == "training_progress" and e.occur_time.ToNanoseconds() / 1e9 > stalled_at
        ]
        assert resumed and min(resumed) > 1, "the takeover continued from the stalled worker's checkpoint"
        assert jobs.load(order_id).lease.token == 2, "the stalled worker wrote nothing after it woke"
    finally:
        for process in workers.values():
            os.kill(process.pid, signal.SIGCONT)
            process.send_signal(signal.SIGTERM)
        for process in workers.values():
            process.wait(timeout=30)


def test_deleting_an_order_mid_training_stops_it_and_leaves_nothing(
    kafka_bootstrap, tiny_model, person_photos, training_events, tmp_path
):
    env = worker_env(
        kafka_bootstrap,
        tiny_model,
        tmp_path,
        new_order_id("delete-group"),
        HEADSHOTS_TRAIN_STEPS="400",
        HEADSHOTS_TRAIN_CHECKPOINT_EVERY="5",
    )
    blobs = open_blob_store(env["HEADSHOTS_BLOB_URL"])
    jobs = TrainingJobStore(blobs)
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        order_id = new_order_id("deleted")
        publisher = bus.Publisher(kafka_bootstrap)
        publish_order(publisher, order_id, order_submitted(upload_photos(blobs, order_id, person_photos[:3])))
        publisher.close()
        _wait(lambda: (j := jobs.load(order_id)) and j.checkpoint_token, 180, "a checkpoint", [worker])

        blobs.mark_deleted(order_id, "user_request")  # what the gateway does on DELETE
        blobs.delete_prefix(blob_layout.order_prefix(order_id))
        deleted_at = time.monotonic()
        _wait(
            lambda: "was deleted" in (tmp_path / "worker.log").read_text(errors="replace"),
            30,
            "the worker to stop the job",
            [worker],
        )
        assert time.monotonic() - deleted_at < 5, "the job stopped within seconds"
        time.sleep(1.5)
        assert blobs.list(blob_layout.order_prefix(order_id)) == [], "nothing of the order came back"
        assert not training_events.of(order_id, "training_completed")
        progress = training_events.of(order_id, "training_progress")
        assert progress and progress[-1].step < 400
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)

"""A hung job gives its lease up: a trainer process whose training step never returns stops renewing the lease
once no step or phase mark came for HEADSHOTS_TRAIN_STALL_S, hands the job over (the lease ends at once) and
exits, to be restarted; another trainer process resumes the order from the hung run's last checkpoint and
completes it. (The second starts once the first left: the embedded broker's group coordinator does not always
settle when a member leaves in the middle of a rebalance.)"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from trainer_test_support import new_order_id, order_submitted, publish_order, start_worker, upload_photos, worker_env

from headshots.v1 import trainer_service_pb2 as pb
from headshots_common import bus
from headshots_common.blobstore import open_blob_store
from trainer.training_jobs import TrainingJobStore

STEPS, CHECKPOINT_EVERY, HANG_AT_STEP = 40, 4, 6
STALL_S, LEASE_S = 8, 3
HANGING_TRAINER = str(Path(__file__).with_name("hanging_trainer.py"))


def _holder_pid(holder: str) -> int:
    return int(holder.split("-")[-2])  # "<host>-<pid>-<worker>"


def test_a_hung_job_gives_its_lease_up_and_another_worker_resumes_it(
    kafka_bootstrap, tiny_model, person_photos, training_events, tmp_path
):
    env = worker_env(
        kafka_bootstrap,
        tiny_model,
        tmp_path,
        new_order_id("stall-group"),
        HEADSHOTS_TRAIN_STEPS=str(STEPS),
        HEADSHOTS_TRAIN_CHECKPOINT_EVERY=str(CHECKPOINT_EVERY),
        HEADSHOTS_TRAINER_LEASE_S=str(LEASE_S),
        HEADSHOTS_TRAIN_STALL_S=str(STALL_S),
    )
    blobs = open_blob_store(env["HEADSHOTS_BLOB_URL"])
    jobs = TrainingJobStore(blobs)
    order_id = new_order_id("hung")
    publisher = bus.Publisher(kafka_bootstrap)
    publish_order(publisher, order_id, order_submitted(upload_photos(blobs, order_id, person_photos[:3])))
    publisher.close()

    hanging = start_worker(
        dict(env, HEADSHOTS_TRAINER_NAME="trainer-a", HEADSHOTS_TEST_HANG_AT_STEP=str(HANG_AT_STEP)),
        tmp_path / "hanging.log",
        argv=(HANGING_TRAINER,),
    )
    other = None
    try:
        deadline = time.monotonic() + 120
        while not ((job := jobs.load(order_id)) and job.checkpoint_step == CHECKPOINT_EVERY):
            assert hanging.poll() is None, (tmp_path / "hanging.log").read_text()
            assert time.monotonic() < deadline, "the first worker wrote no checkpoint"
            time.sleep(0.05)
        assert _holder_pid(job.lease.holder) == hanging.pid
        hung_at = time.time()  # its next steps reach HANG_AT_STEP, where the step never returns

        # It gives the lease up and leaves, so that it is restarted (as its liveness probe would have it).
        hanging.wait(timeout=STALL_S + 60)
        assert hanging.returncode != 0
        assert "stalled" in (tmp_path / "hanging.log").read_text(errors="replace")
        given_up = jobs.load(order_id)
        assert given_up.runs[-1].outcome == "stalled", "it recorded handing the job over"

        other = start_worker(dict(env, HEADSHOTS_TRAINER_NAME="trainer-b"), tmp_path / "other.log")
        event = training_events.wait_for(order_id, timeout_s=150)
        assert bus.payload_kind(event) == "training_completed", event

        done = jobs.load(order_id)
        assert done.training.state == pb.TRAINING_STATE_SUCCEEDED
        assert _holder_pid(done.lease.holder) == other.pid, "the other worker finished the job"
        hung_run, takeover = done.runs
        assert (hung_run.token, _holder_pid(hung_run.holder), hung_run.outcome) == (1, hanging.pid, "stalled")
        assert (takeover.token, takeover.from_step, takeover.reached_step) == (2, CHECKPOINT_EVERY, STEPS)
        after = [
            e.training_progress.step
            for e in training_events.of(order_id)
            if bus.payload_kind(e) == "training_progress" and e.occur_time.ToNanoseconds() / 1e9 > hung_at
        ]
        assert min(after) == CHECKPOINT_EVERY + 1, "resumed from the hung run's checkpoint, not from scratch"
        assert [p.step for p in training_events.of(order_id, "training_progress")].count(1) == 1
        assert len(training_events.of(order_id, "training_completed")) == 1
    finally:
        hanging.kill()  # its hung thread would outlive a SIGTERM
        hanging.wait(timeout=30)
        if other is not None:
            other.send_signal(signal.SIGTERM)
            other.wait(timeout=30)

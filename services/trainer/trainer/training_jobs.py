"""Training job records, checkpoints and cancel requests, kept in the blob store so every trainer process sees them.

Per order (keys from `blob_layout`): the job record (the `Training` resource: state, progress, result or
error, and whether its outcome was published), the latest checkpoint (LoRA weights, optimizer state, RNG
state, step) and a cancel marker, present once someone asked to cancel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from google.protobuf import json_format, timestamp_pb2

from headshots.v1 import events_pb2, trainer_service_pb2 as pb
from headshots_common import blob_layout
from headshots_common.blobstore import BlobStore

State = pb.TrainingState
DONE_STATES = (pb.TRAINING_STATE_SUCCEEDED, pb.TRAINING_STATE_FAILED, pb.TRAINING_STATE_CANCELLED)


def training_name(order_id: str) -> str:
    return f"trainings/{order_id}"


def order_id_from_name(name: str) -> str:
    prefix = "trainings/"
    return name[len(prefix) :] if name.startswith(prefix) else ""


def _now() -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.GetCurrentTime()
    return ts


@dataclass
class TrainingJob:
    """One order's training, as recorded in the blob store."""

    training: pb.Training
    # True once the terminal event (completed / failed) is acknowledged by the broker: a redelivered
    # order message is then a no-op. False for a terminal job means "announce it again".
    published: bool = False
    request_id: str = ""

    @property
    def order_id(self) -> str:
        return order_id_from_name(self.training.name)

    @property
    def done(self) -> bool:
        return self.training.state in DONE_STATES


class TrainingJobStore:
    def __init__(self, blobs: BlobStore):
        self.blobs = blobs

    # -- job records --------------------------------------------------------------------------------
    def load(self, order_id: str) -> TrainingJob | None:
        key = blob_layout.training_record_key(order_id)
        if not self.blobs.exists(key):
            return None
        raw = json.loads(self.blobs.get(key))
        training = json_format.ParseDict(raw["training"], pb.Training())
        return TrainingJob(training=training, published=raw["published"], request_id=raw.get("request_id", ""))

    def save(self, job: TrainingJob) -> TrainingJob:
        job.training.update_time.CopyFrom(_now())
        job.training.done = job.done
        raw = {
            "training": json_format.MessageToDict(job.training),
            "published": job.published,
            "request_id": job.request_id,
        }
        self.blobs.put(blob_layout.training_record_key(job.order_id), json.dumps(raw, indent=1).encode())
        return job

    def load_or_create(self, order_id: str, request_id: str = "") -> TrainingJob:
        job = self.load(order_id)
        if job is None:
            now = _now()
            job = self.save(
                TrainingJob(
                    pb.Training(name=training_name(order_id), state=pb.TRAINING_STATE_QUEUED, create_time=now),
                    request_id=request_id,
                )
            )
        return job

    def set_progress(self, job: TrainingJob, progress: events_pb2.TrainingProgress) -> None:
        job.training.state = pb.TRAINING_STATE_RUNNING
        job.training.progress.CopyFrom(progress)
        self.save(job)

    def finish(
        self,
        job: TrainingJob,
        *,
        result: events_pb2.TrainingCompleted | None = None,
        error: events_pb2.TrainingFailed | None = None,
    ) -> TrainingJob:
        if result is not None:
            job.training.state = pb.TRAINING_STATE_SUCCEEDED
            job.training.result.CopyFrom(result)
        elif error is None:
            raise ValueError("a finished job has a result or an error")
        else:
            cancelled = error.reason == events_pb2.FAILURE_REASON_CANCELLED
            job.training.state = pb.TRAINING_STATE_CANCELLED if cancelled else pb.TRAINING_STATE_FAILED
            job.training.error.CopyFrom(error)
        job.published = False
        return self.save(job)

    def mark_published(self, job: TrainingJob) -> None:
        job.published = True
        self.save(job)

    # -- idempotency keys of SubmitTraining ------------------------------------------------------------
    def order_for_request(self, request_id: str) -> str | None:
        key = blob_layout.training_request_key(request_id)
        return self.blobs.get(key).decode() if self.blobs.exists(key) else None

    def remember_request(self, request_id: str, order_id: str) -> None:
        self.blobs.put(blob_layout.training_request_key(request_id), order_id.encode())

    # -- cancellation -------------------------------------------------------------------------------
    def request_cancel(self, order_id: str) -> None:
        self.blobs.put(blob_layout.cancel_request_key(order_id), b"")

    def cancel_requested(self, order_id: str) -> bool:
        return self.blobs.exists(blob_layout.cancel_request_key(order_id))

    # -- checkpoints --------------------------------------------------------------------------------
    def save_checkpoint(self, order_id: str, data: bytes) -> None:
        self.blobs.put(blob_layout.checkpoint_key(order_id), data)  # atomic replace: a crash leaves the previous one

    def load_checkpoint(self, order_id: str) -> bytes | None:
        key = blob_layout.checkpoint_key(order_id)
        return self.blobs.get(key) if self.blobs.exists(key) else None

    def delete_checkpoint(self, order_id: str) -> None:
        self.blobs.delete(blob_layout.checkpoint_key(order_id))

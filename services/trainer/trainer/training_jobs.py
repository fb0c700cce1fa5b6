"""Training job records with a lease, checkpoints and cancel requests, in the blob store so every trainer
process sees them.

The job record (`blob_layout.training_record_key`) holds the `Training` resource (state, progress, result or
error), whether its outcome was published, and a lease: which worker may train the order, a fencing token
that grows by one at every acquisition, and when the lease expires. Every write of the record is
conditional on the version its writer read (`BlobStore.put_if`), so of two workers that both believe they
hold the job, the one whose lease is stale has its writes refused (`LeaseLost`) and stops. A worker
writes its checkpoints and its adapter under its own token, and the record names which token's
checkpoint to resume from: a stale worker can never overwrite what the lease's new holder wrote.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from dataclasses import dataclass, field

from google.protobuf import json_format, timestamp_pb2

from headshots.v1 import events_pb2, trainer_service_pb2 as pb
from headshots_common import blob_layout
from headshots_common.blobstore import BlobStore, OrderDeleted, PreconditionFailed

log = logging.getLogger(__name__)

DONE_STATES = (pb.TRAINING_STATE_SUCCEEDED, pb.TRAINING_STATE_FAILED, pb.TRAINING_STATE_CANCELLED)


class LeaseLost(RuntimeError):
    """Another worker took the job over (this worker's lease expired): it must stop and write nothing more."""


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
class Lease:
    holder: str = ""  # the worker that may train the order ("" before anyone took it)
    token: int = 0  # fencing token: 1 for the first holder, one more at every takeover
    expires_at: float = 0.0  # epoch seconds; a holder renews it while it works

    def held_by_another(self, holder: str, now: float) -> bool:
        return bool(self.holder) and self.holder != holder and self.expires_at > now


@dataclass
class TrainingJob:
    """One order's training, as recorded in the blob store."""

    training: pb.Training
    # True once the terminal event (completed / failed) is acknowledged by the broker: a redelivered
    # order message is then a no-op. False for a terminal job means "announce it again".
    published: bool = False
    request_id: str = ""
    lease: Lease = field(default_factory=Lease)
    checkpoint_token: int = 0  # whose checkpoint to resume from (0: none)
    etag: str | None = None  # the record's version as read: the next write is conditional on it
    # The training thread and the lease keeper both write through this object: one write at a time.
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def order_id(self) -> str:
        return order_id_from_name(self.training.name)

    @property
    def done(self) -> bool:
        return self.training.state in DONE_STATES


class TrainingJobStore:
    def __init__(self, blobs: BlobStore, lease_s: float = 30.0):
        self.blobs = blobs
        self.lease_s = lease_s

    # -- job records --------------------------------------------------------------------------------
    def load(self, order_id: str) -> TrainingJob | None:
        key = blob_layout.training_record_key(order_id)
        if not self.blobs.exists(key):
            return None
        data, etag = self.blobs.get_with_etag(key)
        raw = json.loads(data)
        training = json_format.ParseDict(raw["training"], pb.Training())
        return TrainingJob(
            training=training,
            published=raw["published"],
            request_id=raw.get("request_id", ""),
            lease=Lease(**raw.get("lease", {})),
            checkpoint_token=raw.get("checkpoint_token", 0),
            etag=etag,
        )

    def save(self, job: TrainingJob) -> TrainingJob:
        """Write the record if nobody wrote it since `job` was read; PreconditionFailed otherwise."""
        with job.lock:
            return self._save(job)

    def _save(self, job: TrainingJob) -> TrainingJob:
        job.training.update_time.CopyFrom(_now())
        job.training.done = job.done
        raw = {
            "training": json_format.MessageToDict(job.training),
            "published": job.published,
            "request_id": job.request_id,
            "lease": dataclasses.asdict(job.lease),
            "checkpoint_token": job.checkpoint_token,
        }
        job.etag = self.blobs.put_if(
            blob_layout.training_record_key(job.order_id), json.dumps(raw, indent=1).encode(), job.etag
        )
        return job

    def load_or_create(self, order_id: str, request_id: str = "") -> TrainingJob:
        job = self.load(order_id)
        if job is None:
            created = TrainingJob(
                pb.Training(name=training_name(order_id), state=pb.TRAINING_STATE_QUEUED, create_time=_now()),
                request_id=request_id,
            )
            try:
                job = self.save(created)
            except PreconditionFailed:  # another process created it first
                job = self.load(order_id)
                assert job is not None
        return job

    # -- the lease ----------------------------------------------------------------------------------
    def acquire(self, order_id: str, holder: str) -> TrainingJob | None:
        """The job with this worker holding its lease, or the finished job; None while another holder's lease
        is live."""
        while True:
            job = self.load_or_create(order_id)
            if job.done:
                return job
            now = time.time()
            if job.lease.held_by_another(holder, now):
                return None
            job.lease = Lease(holder=holder, token=job.lease.token + 1, expires_at=now + self.lease_s)
            try:
                return self.save(job)
            except PreconditionFailed:
                continue  # someone wrote the record meanwhile: look again

    def _write_as_holder(self, job: TrainingJob) -> TrainingJob:
        with job.lock:
            job.lease.expires_at = time.time() + self.lease_s  # every write by the holder renews its lease
            try:
                return self._save(job)
            except PreconditionFailed:
                raise LeaseLost(f"order {job.order_id}: lease {job.lease.token} was taken over") from None

    def renew(self, job: TrainingJob) -> None:
        self._write_as_holder(job)

    def set_progress(self, job: TrainingJob, progress: events_pb2.TrainingProgress) -> None:
        job.training.state = pb.TRAINING_STATE_RUNNING
        job.training.progress.CopyFrom(progress)
        self._write_as_holder(job)

    def finish(
        self,
        job: TrainingJob,
        *,
        result: events_pb2.TrainingCompleted | None = None,
        error: events_pb2.TrainingFailed | None = None,
    ) -> TrainingJob:
        """Record the outcome: the commit point of a training (LeaseLost if another worker holds the job)."""
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
        return self._write_as_holder(job)

    def mark_published(self, job: TrainingJob) -> None:
        """Record that the outcome reached the broker (whoever announced it)."""
        while not job.published:
            job.published = True
            try:
                self.save(job)
            except PreconditionFailed:
                fresh = self.load(job.order_id)
                if fresh is None or fresh.published:
                    return
                job = fresh

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

    # -- checkpoints, per lease token -----------------------------------------------------------------
    def save_checkpoint(self, job: TrainingJob, data: bytes) -> None:
        """Store a checkpoint under the holder's token, then point the record at it (LeaseLost: taken back)."""
        key = blob_layout.checkpoint_key(job.order_id, job.lease.token)
        self.blobs.put(key, data)  # atomic replace of this holder's previous checkpoint
        previous, job.checkpoint_token = job.checkpoint_token, job.lease.token
        try:
            self._write_as_holder(job)
        except LeaseLost:
            self.blobs.delete(key)
            raise
        if previous and previous != job.lease.token:  # resumed from an earlier holder's: no longer needed
            self.blobs.delete(blob_layout.checkpoint_key(job.order_id, previous))

    def load_checkpoint(self, job: TrainingJob) -> bytes | None:
        if not job.checkpoint_token:
            return None
        key = blob_layout.checkpoint_key(job.order_id, job.checkpoint_token)
        return self.blobs.get(key) if self.blobs.exists(key) else None

    def delete_checkpoints(self, order_id: str) -> None:
        prefix = blob_layout.training_prefix(order_id)
        for key in self.blobs.list(prefix):
            if blob_layout.is_checkpoint_key(order_id, key):
                self.blobs.delete(key)


class LeaseKeeper:
    """Renews a job's lease in the background while the job works through phases that report no progress."""

    def __init__(self, jobs: TrainingJobStore, job: TrainingJob):
        self.jobs, self.job = jobs, job
        self.lost = self.deleted = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job.order_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.jobs.lease_s / 3):
            try:
                self.jobs.renew(self.job)
            except LeaseLost:
                self.lost = True
                return
            except OrderDeleted:
                self.deleted = True
                return
            except Exception:  # the blob store unreachable for a moment: try again at the next turn
                log.warning(
                    "could not renew the lease of order %s",
                    self.job.order_id,
                    exc_info=True,
                    extra={"order_id": self.job.order_id},
                )

"""Training job records with a lease, checkpoints and cancel requests, in the blob store so every trainer
process sees them.

The job record (`blob_layout.training_record_key`) holds the `Training` resource (state, progress, result or
error), whether its outcome was published, and a lease: which worker may train the order, a fencing token
that grows by one at every acquisition, and when the lease expires. Every write of the record is
conditional on the version its writer read (`BlobStore.put_if`), so of two workers that both believe they
hold the job, the one whose lease is stale has its writes refused (`LeaseLost`) and stops.

Checkpoints are fenced the same way. Each is a new blob, never overwritten (its key names the run's token
and the step), written only after a conditional write of the record shows the writer still holds the
lease, and counted only once a second conditional write points the record at it; a writer refused there
deletes the blob it just made, which nobody can have read. A holder deletes a checkpoint only once its
own conditional write moved the record off it, and all of them only once the record says the job is over.
So a stale worker can neither overwrite nor delete what the lease's new holder resumes from. The adapter
too is written under the run's token, and the record names the run that counts.
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
from trainer import metrics

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
class Run:
    """One worker's run of the training under one lease token; the record keeps every run, oldest first."""

    token: int
    holder: str
    from_step: int  # the checkpoint's step it resumed from; 0: it started afresh
    reached_step: int  # the last step it recorded (progress is recorded at most twice a second, and the last)
    outcome: str = ""  # "finished", "stalled" (it gave the lease up), or "" (running, killed or fenced out)
    saved_step: int = 0  # the step of the checkpoint the record named when it started: from_step should equal it


STALLED = "stalled"


@dataclass
class TrainingJob:
    """One order's training, as recorded in the blob store."""

    training: pb.Training
    # True once the terminal event (completed / failed) is acknowledged by the broker: a redelivered
    # order message is then a no-op. False for a terminal job means "announce it again".
    published: bool = False
    request_id: str = ""
    lease: Lease = field(default_factory=Lease)
    checkpoint_token: int = 0  # the run whose checkpoint to resume from (0: none) ...
    checkpoint_step: int = 0  # ... and its step
    runs: list[Run] = field(default_factory=list)
    etag: str | None = None  # the record's version as read: the next write is conditional on it
    given_up: bool = False  # this worker gave the lease up (a stall): it writes nothing more
    # The training thread and the lease keeper both write through this object: one write at a time.
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def order_id(self) -> str:
        return order_id_from_name(self.training.name)

    @property
    def done(self) -> bool:
        return self.training.state in DONE_STATES

    @property
    def stalled_runs(self) -> int:
        return sum(run.outcome == STALLED for run in self.runs)


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
            checkpoint_step=raw.get("checkpoint_step", 0),
            runs=[Run(**run) for run in raw.get("runs", [])],
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
            "checkpoint_step": job.checkpoint_step,
            "runs": [dataclasses.asdict(run) for run in job.runs],
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
            if job.given_up:
                raise LeaseLost(f"order {job.order_id}: lease {job.lease.token} was given up after a stall")
            job.lease.expires_at = time.time() + self.lease_s  # every write by the holder renews its lease
            try:
                return self._save(job)
            except PreconditionFailed:
                raise LeaseLost(f"order {job.order_id}: lease {job.lease.token} was taken over") from None

    def renew(self, job: TrainingJob) -> None:
        self._write_as_holder(job)

    def give_up(self, job: TrainingJob) -> None:
        """Hand a stalled job over: from now on this worker writes nothing (LeaseLost), and the lease ends now
        rather than after its term, so another worker resumes the job from its checkpoint at once."""
        with job.lock:
            job.given_up = True
            job.lease.expires_at = time.time()
            if job.runs and job.runs[-1].token == job.lease.token:
                job.runs[-1].outcome = STALLED
            try:
                self._save(job)
            except PreconditionFailed:
                pass  # already taken over
            except Exception:  # the store unreachable: the lease lapses by itself, no later than its term
                log.warning("order %s: could not record giving the lease up", job.order_id, exc_info=True)

    def start_run(self, job: TrainingJob, from_step: int) -> None:
        """Record that this holder's run starts training, from a checkpoint's step or afresh (0)."""
        saved = job.checkpoint_step if job.checkpoint_token else 0
        job.runs.append(Run(job.lease.token, job.lease.holder, from_step, reached_step=from_step, saved_step=saved))
        self._write_as_holder(job)

    def set_progress(self, job: TrainingJob, progress: events_pb2.TrainingProgress) -> None:
        job.training.state = pb.TRAINING_STATE_RUNNING
        job.training.progress.CopyFrom(progress)
        if job.runs and job.runs[-1].token == job.lease.token:
            job.runs[-1].reached_step = progress.step
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
        if job.runs and job.runs[-1].token == job.lease.token:
            job.runs[-1].outcome = "finished"
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

    # -- checkpoints, fenced by the lease ----------------------------------------------------------------
    def save_checkpoint(self, job: TrainingJob, step: int, data: bytes) -> None:
        """Store a checkpoint and point the record at it, if this worker still holds the lease (LeaseLost if not)."""
        self._write_as_holder(job)  # fenced before: a stale holder writes nothing
        key = blob_layout.checkpoint_key(job.order_id, job.lease.token, step)
        self.blobs.put_if(key, data, None)  # a new blob: what anyone resumes from is never overwritten
        previous = self._checkpoint_key(job)
        job.checkpoint_token, job.checkpoint_step = job.lease.token, step
        try:
            self._write_as_holder(job)  # ... and after: the record names it only if we still hold the lease
        except LeaseLost:
            self.blobs.delete(key)  # made after the takeover, named by no record: nobody can have read it
            raise
        if previous:  # our own write just moved the record off it; it never points back
            self.blobs.delete(previous)

    @staticmethod
    def _checkpoint_key(job: TrainingJob) -> str | None:
        if not job.checkpoint_token:
            return None
        return blob_layout.checkpoint_key(job.order_id, job.checkpoint_token, job.checkpoint_step)

    def load_checkpoint(self, job: TrainingJob) -> bytes | None:
        key = self._checkpoint_key(job)
        return self.blobs.get(key) if key and self.blobs.exists(key) else None

    def clean_up(self, job: TrainingJob) -> int:
        """Once the record says the job is over, nobody resumes it and only the run that finished it counts: delete
        the order's checkpoints and any other run's adapter (one that crashed, or met an outage, after storing
        it). Returns how many blobs went. While the job runs, whoever holds it may need them: nothing goes."""
        order_id = job.order_id
        record = self.load(order_id)
        if record is None or not record.done:
            log.warning("order %s is not finished: its checkpoints are kept", order_id)
            return 0
        result = record.training.result
        counts = {result.adapter_key, result.manifest_key} if record.training.HasField("result") else set()
        keys = [
            k
            for k in self.blobs.list(blob_layout.training_prefix(order_id))
            if blob_layout.is_checkpoint_key(order_id, k)
        ]
        keys += [k for k in self.blobs.list(blob_layout.adapter_prefix(order_id)) if k not in counts]
        for key in keys:
            self.blobs.delete(key)
        return len(keys)


class Progress:
    """When the running job last made progress: a training step, a phase done (photos loaded, class images
    generated, the adapter stored, the outcome announced), or a turn of a wait it chose (for another worker's
    lease, for the blob store to come back). The lease keeper and the worker's polling loop read it to tell a
    hung job from a slow one."""

    def __init__(self) -> None:
        self._at = time.monotonic()

    def mark(self) -> None:
        self._at = time.monotonic()

    def idle_s(self) -> float:
        return time.monotonic() - self._at


class LeaseKeeper:
    """Renews a job's lease in the background while the job makes progress, and gives it up once it makes none.

    Without a progress mark for `stall_s` seconds the job is stalled (a hung kernel, a dead-locked loader, a read
    that never returns): the keeper stops renewing, hands the job over (`TrainingJobStore.give_up`) and says so
    (`stalled`), so the worker's process can stop beating and be restarted while another worker resumes the job
    from its checkpoint.
    """

    def __init__(self, jobs: TrainingJobStore, job: TrainingJob, stall_s: float, progress: Progress):
        self.jobs, self.job, self.stall_s, self.progress = jobs, job, stall_s, progress
        self.lost = self.deleted = self.stalled = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job.order_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self.jobs.lease_s / 3):
            idle = self.progress.idle_s()
            if idle > self.stall_s:
                log.error(
                    "order %s stalled: no progress for %.0f s; giving its lease up",
                    self.job.order_id,
                    idle,
                    extra={"order_id": self.job.order_id},
                )
                metrics.STALLS.inc()
                self.jobs.give_up(self.job)
                self.stalled = True  # after the hand-over is written: the process may exit on seeing it
                return
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

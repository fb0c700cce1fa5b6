"""One order, from its OrderSubmitted event to a published outcome, exactly once in effect.

- the job record in the blob store (trainer.training_jobs) says whether an order was trained and whether its
  outcome was announced, so a redelivered or duplicate message never trains again;
- the worker that trains an order holds the record's lease, renewed while the job makes progress (the lease
  keeper); another worker that receives the order meanwhile waits for the job to finish or the lease to expire, and
  only then takes over, from the last checkpoint; a stale holder's writes are refused and it stops;
- after MAX_STALLED_RUNS runs that stalled (gave their lease up: trainer.worker), the order fails
  (FAILURE_REASON_STALLED) rather than moving on again;
- while the blob store is unavailable the order waits (backoff, up to BLOB_STORE_PATIENCE_S) and resumes from its
  checkpoint: an outage is no reason to fail an order;
- the order's tombstone stops a job within a second of the order's deletion, and nothing of it is kept.
The training itself is trainer.training_run's; progress, record writes and cancel checks trainer.reporting's.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from headshots.v1 import events_pb2, trainer_service_pb2 as pb
from headshots_common import blob_layout, bus, logs, tracing
from headshots_common.adapter_format import AdapterManifest
from headshots_common.blobstore import BlobStore, OrderDeleted, unavailable
from trainer import metrics
from trainer.config import TrainerConfig
from trainer.photos import BadPhotos, load_photos
from trainer.reporting import JobReporter
from trainer.training import TrainingControl, TrainingStopped
from trainer.training_jobs import LeaseKeeper, LeaseLost, Progress, TrainingJob, TrainingJobStore
from trainer.training_run import JobTraining

log = logging.getLogger(__name__)

MAX_STALLED_RUNS = 3  # runs of one order that stalled before it fails rather than being handed over again
# How long a job waits out an unavailable blob store (trying again with backoff) before the process gives up.
BLOB_STORE_PATIENCE_S = 600.0
REASON = events_pb2.FailureReason


class WorkerStopping(Exception):
    """The process is shutting down mid-job: the job is checkpointed and its message stays uncommitted."""


class OrderHandler:
    """Brings orders to a published outcome, one at a time; `progress` and `keeper` are the running job's, which
    the worker's polling loop watches for a stall."""

    def __init__(
        self,
        config: TrainerConfig,
        blobs: BlobStore,
        jobs: TrainingJobStore,
        publisher: bus.Publisher,
        training: JobTraining,
        stop: threading.Event,
        worker_id: str,
    ):
        self.config, self.blobs, self.jobs, self.publisher = config, blobs, jobs, publisher
        self.training, self.stop, self.worker_id = training, stop, worker_id
        self.progress = Progress()
        self.keeper: LeaseKeeper | None = None

    def handle(self, event: events_pb2.Event, traceparent: str = "") -> None:
        """Bring one order's job to a published outcome. Raises WorkerStopping on shutdown.

        `traceparent`: the order's trace, from the record's headers; the training span and the events this job
        publishes belong to it.
        """
        if bus.payload_kind(event) != "order_submitted":
            return
        order_id = event.order_id
        with (
            logs.log_context(order_id=order_id, tenant=event.order_submitted.tenant_id),
            tracing.span("training", traceparent, attributes={"order.id": order_id, "worker": self.worker_id}),
        ):
            try:
                self._handle_riding_out_outages(order_id, event)
            except OrderDeleted:
                log.info("order %s was deleted: its training stopped and nothing of it was kept", order_id)
                metrics.JOBS.labels("deleted").inc()
                self.blobs.delete_prefix(blob_layout.order_prefix(order_id))  # what it wrote before the tombstone
            except LeaseLost as exc:
                log.warning("order %s: %s; its new holder finishes it", order_id, exc)
                metrics.LEASES_LOST.inc()

    def _handle_riding_out_outages(self, order_id: str, event: events_pb2.Event) -> None:
        """Handle the order; while the blob store is unavailable, wait (1 s, doubling to 30 s) and handle it again,
        from its last checkpoint, for up to BLOB_STORE_PATIENCE_S."""
        waited, delay = 0.0, 1.0
        while True:
            try:
                self._handle(order_id, event.order_submitted, event.occur_time.ToDatetime(tzinfo=UTC))
                return
            except (OrderDeleted, LeaseLost, WorkerStopping):
                raise
            except Exception as exc:
                if not unavailable(exc) or waited >= BLOB_STORE_PATIENCE_S:
                    raise
                if self.stop.is_set():
                    raise WorkerStopping() from exc
                log.warning(
                    "order %s: the blob store is unavailable (%s: %s); trying again in %.0f s",
                    order_id,
                    type(exc).__name__,
                    str(exc)[:200],
                    delay,
                )
                metrics.BLOB_STORE_WAITS.inc()
                for _ in range(int(delay)):  # a wait chosen, marked as progress each second
                    if self.stop.wait(1.0):
                        break
                    self.progress.mark()
                waited, delay = waited + delay, min(delay * 2, 30.0)

    def _acquire(self, order_id: str) -> TrainingJob | None:
        """The job with this worker holding its lease, or finished; None while another worker keeps working on it.

        A live lease held by another worker means the order moved here while that worker still trains it (a
        rebalance), or that worker died: wait until the job finishes or the lease expires, then decide.
        """
        deadline = time.monotonic() + self.jobs.lease_s + 5
        while True:
            job = self.jobs.acquire(order_id, self.worker_id)
            if job is not None or time.monotonic() > deadline or self.stop.is_set():
                return job
            self.stop.wait(1.0)
            self.progress.mark()  # waiting on another worker's live lease is no stall

    def _handle(self, order_id: str, submitted: events_pb2.OrderSubmitted, submitted_at: datetime) -> None:
        if self.blobs.is_deleted(order_id):
            raise OrderDeleted(order_id)
        job = self._acquire(order_id)
        if job is None:
            log.info("order %s is being trained by another worker; it will finish it", order_id)
            return
        if job.done:
            if not job.published and job.lease.held_by_another(self.worker_id, time.time()):
                return  # its holder finished a moment ago and is announcing it
            if job.published and not submitted.resubmitted:
                log.info(
                    "order %s was already %s; skipping the duplicate message",
                    order_id,
                    pb.TrainingState.Name(job.training.state),
                )
                metrics.DUPLICATES.inc()
            else:  # never announced, or announced to a broker that since lost it: the gateway asks again
                self.jobs.clean_up(job)  # what its finisher may not have got to (it died, or met an outage)
                self._announce(job)
            return
        if job.lease.token > 1:
            metrics.TAKEOVERS.inc()
        if job.stalled_runs >= MAX_STALLED_RUNS:
            message = f"training stalled {job.stalled_runs} times (no progress for {self.config.stall_s:.0f} s)"
            self._fail(job, REASON.FAILURE_REASON_STALLED, message)
            return
        if self.jobs.cancel_requested(order_id):
            self._fail(job, REASON.FAILURE_REASON_CANCELLED, "cancelled before training started")
            return
        if not job.training.progress.step:  # a first start, not a resumption: the order waited this long in the queue
            metrics.QUEUE_WAIT_SECONDS.observe(max(0.0, (datetime.now(UTC) - submitted_at).total_seconds()))
        try:
            photos = load_photos(self.blobs, submitted.photo_keys)
            self.progress.mark()
            metrics.JOBS_RUNNING.inc()
            try:
                with LeaseKeeper(self.jobs, job, self.config.stall_s, self.progress) as keeper:
                    self.keeper = keeper
                    with self._reporter(job, keeper) as reporter:
                        control = TrainingControl(
                            progress=reporter.step,
                            checkpoint_every=self.config.checkpoint_every,
                            save_checkpoint=lambda c: self.jobs.save_checkpoint(job, c.step, c.to_bytes()),
                            should_stop=reporter.should_stop,
                            phase_done=self.progress.mark,
                        )
                        manifest = self.training.run(job, submitted, photos, control, self.progress.mark)
            finally:
                self.keeper = None
                metrics.JOBS_RUNNING.dec()
        except BadPhotos as exc:
            self._fail(job, REASON.FAILURE_REASON_BAD_PHOTOS, str(exc))
        except TrainingStopped as exc:
            if keeper.deleted or self.blobs.is_deleted(order_id):
                raise OrderDeleted(order_id) from exc
            if keeper.lost or keeper.stalled:
                raise LeaseLost(f"order {order_id}: the lease was taken over or given up at step {exc.step}") from exc
            if not self.jobs.cancel_requested(order_id):
                raise WorkerStopping() from exc
            self._fail(job, REASON.FAILURE_REASON_CANCELLED, f"cancelled at step {exc.step}")
            self.jobs.clean_up(job)
        except _out_of_memory():
            self._fail(job, REASON.FAILURE_REASON_OUT_OF_MEMORY, "out of memory even at batch size 1")
        except (LeaseLost, OrderDeleted):
            raise
        except Exception as exc:
            if unavailable(exc):  # a passing outage: tried again by the caller, never a failed order
                raise
            log.exception("training order %s failed", order_id)
            self._fail(job, REASON.FAILURE_REASON_INTERNAL, f"training failed: {type(exc).__name__}")
        else:
            self._finish(job, submitted, manifest)

    def _reporter(self, job: TrainingJob, keeper: LeaseKeeper) -> JobReporter:
        return JobReporter(
            self.jobs,
            job,
            self.publisher,
            self.progress,
            stop_also=lambda: keeper.lost or keeper.deleted or keeper.stalled or self.stop.is_set(),
        )

    def _finish(self, job: TrainingJob, submitted: events_pb2.OrderSubmitted, manifest: AdapterManifest) -> None:
        """Store the manifest, record the outcome (the commit point) and announce it."""
        manifest_key = blob_layout.adapter_manifest_key(job.order_id, job.lease.token)
        self.blobs.put(manifest_key, manifest.to_json())
        self.progress.mark()
        try:  # the commit point: the record says which run's adapter counts
            completed = self.jobs.finish(job, result=_completed(manifest, submitted, manifest_key))
        except LeaseLost:
            self.blobs.delete(manifest.adapter_key)  # this run's adapter: the new holder's counts
            self.blobs.delete(manifest_key)
            raise
        self.jobs.clean_up(job)
        metrics.JOBS.labels("succeeded").inc()
        self._announce(completed)

    def _fail(self, job: TrainingJob, reason: events_pb2.FailureReason, message: str) -> None:
        log.warning("order %s failed (%s): %s", job.order_id, REASON.Name(reason), message)
        metrics.FAILURES.labels(REASON.Name(reason)).inc()
        metrics.JOBS.labels("cancelled" if reason == REASON.FAILURE_REASON_CANCELLED else "failed").inc()
        self._announce(self.jobs.finish(job, error=events_pb2.TrainingFailed(reason=reason, message=message)))

    def _announce(self, job: TrainingJob) -> None:
        """Publish the job's outcome, then record that it was published."""
        if job.training.HasField("result"):
            event = bus.new_event(job.order_id, training_completed=job.training.result)
        else:
            event = bus.new_event(job.order_id, training_failed=job.training.error)
        self.publisher.publish(bus.TRAINING_TOPIC, event, traceparent=tracing.current_traceparent())
        self.progress.mark()
        self.jobs.mark_published(job)


def _out_of_memory() -> type[BaseException]:
    import torch

    return torch.OutOfMemoryError


def _completed(
    manifest: AdapterManifest, submitted: events_pb2.OrderSubmitted, manifest_key: str
) -> events_pb2.TrainingCompleted:
    return events_pb2.TrainingCompleted(
        adapter_key=manifest.adapter_key,
        manifest_key=manifest_key,
        base_model=manifest.base_model,
        subject_phrase=manifest.subject_phrase,
        steps=manifest.steps,
        seconds=manifest.seconds,
        render_spec=submitted.render_spec,
        likeness=manifest.metrics.get("likeness", 0.0),
    )

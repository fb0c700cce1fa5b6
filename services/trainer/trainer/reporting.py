"""A running job's bookkeeping, off the training thread: progress events, job-record writes, cancel and deletion.

The training thread only hands each step over (`step`: a clock mark and, at most PROGRESS_EVENTS_PER_S times a
second plus the first and the last step, a message on a queue) and reads flags (`should_stop`). The reporter's
own thread publishes the progress events, writes the progress into the job record (renewing the lease), and
looks for a cancel request or the order's tombstone, at that same rate. What it runs into comes back to the
training thread at its next step: a lost lease or a deleted order as the exception itself (the job stops without a
checkpoint, as when the training thread wrote the record itself); a cancel request or the tombstone as a stop
request (the job checkpoints and stops).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from headshots.v1 import events_pb2
from headshots_common import bus, tracing
from trainer import metrics
from trainer.training_jobs import Progress, TrainingJob, TrainingJobStore

log = logging.getLogger(__name__)

# At most this many progress events (and job-record updates, and cancel and deletion checks) per second per job.
PROGRESS_EVENTS_PER_S = 2.0
NOTHING = events_pb2.TrainingProgress()  # no update arrived before the next check was due


class JobReporter:
    """Use as a context manager around the job's training; `step` and `should_stop` go into TrainingControl."""

    def __init__(
        self,
        jobs: TrainingJobStore,
        job: TrainingJob,
        publisher: bus.Publisher,
        progress: Progress,
        stop_also: Callable[[], bool] = lambda: False,
    ):
        self.jobs, self.job, self.publisher, self.progress = jobs, job, publisher, progress
        self.stop_also = stop_also  # the caller's own reasons to stop (shutdown, a lease keeper's verdict)
        self.interval = 1.0 / PROGRESS_EVENTS_PER_S
        self.ended = False  # a cancel request or the tombstone was seen
        self.error: BaseException | None = None  # what a write or a check ran into
        self._traceparent = tracing.current_traceparent()
        self._updates: queue.Queue[events_pb2.TrainingProgress | None] = queue.Queue()
        self._queued_at = float("-inf")
        self._step_at: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"report-{job.order_id}", daemon=True)

    def __enter__(self) -> JobReporter:
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """Sends what was handed over, then stops; raises what the last writes ran into when the job itself did not
        fail (its final progress must reach the record and the topic, as the training thread's own write did)."""
        self._updates.put(None)
        self._thread.join(timeout=60)
        if exc is None and self.error is not None:
            raise self.error

    # -- on the training thread --------------------------------------------------------------------------------
    def step(self, step: int, total: int, loss: float, eta_s: float) -> None:
        now = time.monotonic()
        self.progress.mark()
        if self._step_at is not None:
            metrics.STEP_SECONDS.observe(now - self._step_at)
        self._step_at = now
        if step == total or now - self._queued_at >= self.interval:
            self._queued_at = now
            self._updates.put(events_pb2.TrainingProgress(step=step, total_steps=total, loss=loss, eta_seconds=eta_s))

    def should_stop(self) -> bool:
        if self.error is not None:
            error, self.error = self.error, None  # raised once, on the training thread
            raise error
        return self.ended or self.stop_also()

    # -- on the reporter's thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        next_check = time.monotonic()
        while True:
            try:
                update = self._updates.get(timeout=max(0.0, next_check - time.monotonic()))
            except queue.Empty:
                update = NOTHING
            if update is None:
                return
            if self.error is not None:
                continue  # the training thread stops at its next step; nothing more is written
            try:
                if update is not NOTHING:
                    self.publisher.publish_soon(
                        bus.TRAINING_TOPIC,
                        bus.new_event(self.job.order_id, training_progress=update),
                        self._traceparent,
                    )
                    self.jobs.set_progress(self.job, update)
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + self.interval
                    if not self.ended:
                        self.ended = self.jobs.cancel_requested(self.job.order_id) or self.jobs.blobs.is_deleted(
                            self.job.order_id
                        )
            except BaseException as exc:  # a lost lease, a deleted order, an unavailable store: the job's to handle
                log.info("order %s: the progress writer ran into %s: %s", self.job.order_id, type(exc).__name__, exc)
                self.error = exc

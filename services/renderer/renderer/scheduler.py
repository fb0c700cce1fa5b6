"""Cross-tenant batch scheduler: fills each denoising batch with many tenants' images.

No model code here. Work arrives as `Job`s (one tenant's items that share a `BatchKey`);
`next_batch()` hands the renderer loop a list of `Task`s to run in ONE pipeline call:

* compatible only: every task of a batch has the same `BatchKey` (size, steps, guidance);
* bounded: at most `max_batch` tasks and at most `max_tenants` distinct tenants (adapter slots);
* waits for more work to fill the batch while it keeps arriving: until no request has arrived
  for `max_wait_s`, and never longer than `max_linger_s` (4 x max_wait_s) after the first.
  Requests come in bursts (a dispatcher's pack, clients answering the images of the last
  batch); a window from the first arrival alone cuts a burst that is still arriving, and its
  stragglers then wait a whole batch;
* fair: tenants are served round-robin, one item per tenant per round, starting after the
  tenant served first last time, so a tenant with 200 queued images cannot starve one with 4:
  a newly arrived tenant's first item is in the next batch that has room for its key.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BatchKey:
    """What must be equal for items to share one pipeline call."""

    height: int
    width: int
    steps: int
    guidance: float


@dataclass
class Job:
    """One request's items for one tenant; `on_result(task, result_or_exception)` is called per item."""

    tenant: str
    key: BatchKey
    items: list[Any]
    on_result: Callable[["Task", Any], None]
    context: Any = None  # what the runner needs for every item (adapter, subject phrase ...)
    id: int = field(default_factory=itertools.count().__next__)
    cancelled: bool = False


@dataclass(frozen=True)
class Task:
    job: Job
    index: int  # position in job.items

    @property
    def item(self) -> Any:
        return self.job.items[self.index]


class BatchScheduler:
    def __init__(self, max_batch: int = 8, max_wait_s: float = 0.02, max_tenants: int | None = None):
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.max_batch, self.max_wait_s = max_batch, max_wait_s
        self.max_linger_s = 4 * max_wait_s
        self.max_tenants = max_tenants or max_batch
        self._queues: OrderedDict[str, deque[Task]] = OrderedDict()  # round-robin order of tenants
        self._cond = threading.Condition()
        self._oldest_arrival: float | None = None
        self._last_arrival = 0.0
        self._closed = False
        self.batches = self.tasks_batched = 0

    # -- producers ---------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("scheduler is closed")
            queue = self._queues.setdefault(job.tenant, deque())
            queue.extend(Task(job, i) for i in range(len(job.items)))
            self._last_arrival = time.monotonic()
            if self._oldest_arrival is None:
                self._oldest_arrival = self._last_arrival
            self._cond.notify_all()

    def cancel(self, predicate: Callable[[Job], bool]) -> list[Task]:
        """Remove the queued tasks whose job matches; returns them (the caller reports their failure)."""
        removed: list[Task] = []
        with self._cond:
            for tenant, queue in list(self._queues.items()):
                keep = deque(t for t in queue if not predicate(t.job))
                removed.extend(t for t in queue if predicate(t.job))
                self._set_queue(tenant, keep)
            for task in removed:
                task.job.cancelled = True
        return removed

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def depth(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues.values())

    @property
    def mean_batch_size(self) -> float:
        return self.tasks_batched / self.batches if self.batches else 0.0

    # -- the consumer ------------------------------------------------------------------------

    def next_batch(self, timeout: float | None = None) -> list[Task]:
        """Block until work is queued, wait while more keeps arriving to fill the batch, then take it.

        Returns [] when closed (or on timeout with nothing queued).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._queues and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return []
                self._cond.wait(remaining)
            if self._closed:
                return []
            # Let other tenants' requests join until the batch would be full, arrivals pause for max_wait_s,
            # or the oldest item has lingered max_linger_s.
            first = self._oldest_arrival or time.monotonic()
            while not self._closed and self._fillable() < self.max_batch:
                fill_by = min(max(first, self._last_arrival) + self.max_wait_s, first + self.max_linger_s)
                remaining = fill_by - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            if not self._queues:  # everything was cancelled meanwhile
                return []
            batch = self._take()
            self.batches += 1
            self.tasks_batched += len(batch)
            return batch

    def _fillable(self) -> int:
        """How many tasks the next batch could hold (same key as the first tenant's head)."""
        key = next(iter(self._queues.values()))[0].job.key
        return sum(1 for q in self._queues.values() for t in q if t.job.key == key)

    def _take(self) -> list[Task]:
        tenants = list(self._queues)
        key = self._queues[tenants[0]][0].job.key  # the head of the tenant whose turn it is
        batch: list[Task] = []
        chosen: list[str] = []
        # Round-robin: one task per tenant per round, among tenants with work of this key.
        while len(batch) < self.max_batch:
            progressed = False
            for tenant in tenants:
                if len(batch) >= self.max_batch:
                    break
                queue = self._queues.get(tenant)
                if not queue:
                    continue
                if tenant not in chosen and len(chosen) >= self.max_tenants:
                    continue
                task = next((t for t in queue if t.job.key == key), None)
                if task is None:
                    continue
                queue.remove(task)
                batch.append(task)
                if tenant not in chosen:
                    chosen.append(tenant)
                progressed = True
            if not progressed:
                break
        # Rotate: the tenant after the first one served goes first next time; emptied queues leave.
        first = tenants[0]
        self._queues.move_to_end(first)
        for tenant in tenants:
            self._set_queue(tenant, self._queues.get(tenant, deque()))
        self._oldest_arrival = time.monotonic() if self._queues else None
        return batch

    def _set_queue(self, tenant: str, queue: deque[Task]) -> None:
        if queue:
            self._queues[tenant] = queue
        else:
            self._queues.pop(tenant, None)
        if not self._queues:
            self._oldest_arrival = None

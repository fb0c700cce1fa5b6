"""The batch scheduler: fills each denoising batch with images for many adapters. It knows no model code.

Requests arrive as `QueuedRequest`s (one adapter's images that share a `BatchKey`); `next_batch()`
hands the render loop the `QueuedImage`s to run in ONE pipeline call: same key only, at most
`max_batch` images and `max_adapters` adapters, adapters served round-robin, and a batch kept open
while requests keep arriving (docs/renderer.md, "Scheduling").
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
class QueuedRequest:
    """One request's images for one adapter; `on_result(image, result_or_exception)` is called per image."""

    adapter_id: str  # "" renders the bare base model
    key: BatchKey
    items: list[Any]
    on_result: Callable[[QueuedImage, Any], None]
    context: Any = None  # what the render loop needs for every image (the adapter and its scale)
    traceparent: str = ""  # the caller's trace (W3C), so its order's trace shows the batches it was in
    id: int = field(default_factory=itertools.count().__next__)
    cancelled: bool = False


@dataclass(frozen=True)
class QueuedImage:
    request: QueuedRequest
    index: int  # position in request.items

    @property
    def item(self) -> Any:
        return self.request.items[self.index]


class BatchScheduler:
    def __init__(self, max_batch: int = 8, max_wait_s: float = 0.02, max_adapters: int | None = None):
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.max_batch, self.max_wait_s = max_batch, max_wait_s
        # A burst still arriving keeps the batch open, but never longer than this after its first image.
        self.max_linger_s = 4 * max_wait_s
        self.max_adapters = max_adapters or max_batch
        self._queues: OrderedDict[str, deque[QueuedImage]] = OrderedDict()  # adapter id -> images, round-robin order
        self._cond = threading.Condition()
        self._oldest_arrival: float | None = None
        self._last_arrival = 0.0
        self._closed = False
        self.batches = self.tasks_batched = 0

    # -- producers ---------------------------------------------------------------------------

    def submit(self, request: QueuedRequest) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("scheduler is closed")
            queue = self._queues.setdefault(request.adapter_id, deque())
            queue.extend(QueuedImage(request, i) for i in range(len(request.items)))
            self._last_arrival = time.monotonic()
            if self._oldest_arrival is None:
                self._oldest_arrival = self._last_arrival
            self._cond.notify_all()

    def cancel(self, predicate: Callable[[QueuedRequest], bool]) -> list[QueuedImage]:
        """Remove the queued images whose request matches; returns them (the caller reports their failure)."""
        removed: list[QueuedImage] = []
        with self._cond:
            for adapter_id, queue in list(self._queues.items()):
                keep = deque(image for image in queue if not predicate(image.request))
                removed.extend(image for image in queue if predicate(image.request))
                self._set_queue(adapter_id, keep)
            for image in removed:
                image.request.cancelled = True
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

    def next_batch(self, timeout: float | None = None) -> list[QueuedImage]:
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
            # Let other requests join until the batch would be full, arrivals pause for max_wait_s,
            # or the oldest image has lingered max_linger_s.
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
        """How many images the next batch could hold (same key as the head of the first adapter's queue)."""
        key = next(iter(self._queues.values()))[0].request.key
        return sum(1 for q in self._queues.values() for image in q if image.request.key == key)

    def _take(self) -> list[QueuedImage]:
        adapter_ids = list(self._queues)
        key = self._queues[adapter_ids[0]][0].request.key  # the head of the adapter whose turn it is
        batch: list[QueuedImage] = []
        chosen: list[str] = []
        # Round-robin: one image per adapter per round, among adapters with work of this key.
        while len(batch) < self.max_batch:
            progressed = False
            for adapter_id in adapter_ids:
                if len(batch) >= self.max_batch:
                    break
                queue = self._queues.get(adapter_id)
                if not queue:
                    continue
                if adapter_id not in chosen and len(chosen) >= self.max_adapters:
                    continue
                image = next((i for i in queue if i.request.key == key), None)
                if image is None:
                    continue
                queue.remove(image)
                batch.append(image)
                if adapter_id not in chosen:
                    chosen.append(adapter_id)
                progressed = True
            if not progressed:
                break
        # Rotate: the adapter after the first one served goes first next time; emptied queues leave.
        self._queues.move_to_end(adapter_ids[0])
        for adapter_id in adapter_ids:
            self._set_queue(adapter_id, self._queues.get(adapter_id, deque()))
        self._oldest_arrival = time.monotonic() if self._queues else None
        return batch

    def _set_queue(self, adapter_id: str, queue: deque[QueuedImage]) -> None:
        if queue:
            self._queues[adapter_id] = queue
        else:
            self._queues.pop(adapter_id, None)
        if not self._queues:
            self._oldest_arrival = None

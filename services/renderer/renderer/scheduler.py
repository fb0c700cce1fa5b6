"""The batch scheduler: fills each denoising batch with images for many adapters. It knows no model code.

Requests arrive as `QueuedRequest`s (one adapter's images that share a `BatchKey`); `next_batch()`
hands the render loop the `QueuedImage`s to run in ONE pipeline call: same key only, at most
`max_batch` images and `max_adapters` adapters, whole requests served round-robin between adapters (a
request that fits a batch is never split), a request too big for a batch alone in equal batches of its
own of at most `max_request_batch` images, and a batch kept open while requests keep arriving
(docs/renderer.md, "Scheduling").
"""

from __future__ import annotations

import itertools
import math
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
    sampler: str = ""  # a diffusers scheduler class name; "" the base model's own


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


# Adapters whose last turn the scheduler remembers; one forgotten goes first when it returns, as it would anyway.
_REMEMBERED_ADAPTERS = 4096


class BatchScheduler:
    def __init__(
        self,
        max_batch: int = 8,
        max_wait_s: float = 0.02,
        max_adapters: int | None = None,
        max_request_batch: int | None = None,
    ):
        """`max_request_batch` (default `max_batch`): the most images of one request too big for a mixed batch
        that run together, alone (an order's whole pack, as diffusers runs a request: in batches of its own)."""
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.max_batch, self.max_wait_s = max_batch, max_wait_s
        self.max_request_batch = max(max_request_batch or max_batch, max_batch)
        # A burst still arriving keeps the batch open, but never longer than this after its first image.
        self.max_linger_s = 4 * max_wait_s
        self.max_adapters = max_adapters or max_batch
        self._queues: dict[str, deque[QueuedImage]] = {}  # adapter id -> its queued images, in arrival order
        # adapter id -> the batch number it was last served in: the least recently served goes first (fair share).
        self._last_served: OrderedDict[str, int] = OrderedDict()
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

    def _turn_order(self) -> list[str]:
        """Queued adapters, the least recently served first (never served: first, by arrival)."""
        return sorted(self._queues, key=lambda adapter_id: self._last_served.get(adapter_id, -1))

    def _fillable(self) -> int:
        """How many images the next batch could hold (same key as the head of the adapter whose turn it is)."""
        key = self._queues[self._turn_order()[0]][0].request.key
        return sum(1 for q in self._queues.values() for image in q if image.request.key == key)

    def _take(self) -> list[QueuedImage]:
        order = self._turn_order()
        head = self._queues[order[0]][0].request
        if len(self._queued(head)) > self.max_batch:
            batch, served = self._request_batch(head), [order[0]]
        else:
            batch, served = self._mixed_batch(order, head.key)
        for adapter_id in served:  # to the back of the turn order
            self._last_served[adapter_id] = self.batches
            self._last_served.move_to_end(adapter_id)
        while len(self._last_served) > _REMEMBERED_ADAPTERS:  # the longest unserved: first anyway when they return
            self._last_served.popitem(last=False)
        for adapter_id in order:  # emptied queues leave
            self._set_queue(adapter_id, self._queues.get(adapter_id, deque()))
        self._oldest_arrival = time.monotonic() if self._queues else None
        return batch

    def _mixed_batch(self, order: list[str], key: BatchKey) -> tuple[list[QueuedImage], list[str]]:
        """Round-robin: one whole request per adapter per round, among adapters with a request of this key that
        still fits; a request bigger than a batch never joins one (it runs alone, `_request_batch`)."""
        batch: list[QueuedImage] = []
        served: list[str] = []
        progressed = True
        while progressed and len(batch) < self.max_batch:
            progressed = False
            for adapter_id in order:
                queue = self._queues[adapter_id]
                if adapter_id not in served and len(served) >= self.max_adapters:
                    continue
                request = next((image.request for image in queue if image.request.key == key), None)
                if request is None:
                    continue
                images = self._queued(request)
                if len(batch) + len(images) > self.max_batch:
                    continue
                for image in images:
                    queue.remove(image)
                batch.extend(images)
                if adapter_id not in served:
                    served.append(adapter_id)
                progressed = True
        return batch, served

    def _request_batch(self, request: QueuedRequest) -> list[QueuedImage]:
        """The next of the equal batches, each at most max_request_batch images, that a big request runs in."""
        images = self._queued(request)
        batches = math.ceil(len(images) / self.max_request_batch)
        taken = images[: math.ceil(len(images) / batches)]
        queue = self._queues[request.adapter_id]
        for image in taken:
            queue.remove(image)
        return taken

    def _queued(self, request: QueuedRequest) -> list[QueuedImage]:
        return [image for image in self._queues[request.adapter_id] if image.request is request]

    def _set_queue(self, adapter_id: str, queue: deque[QueuedImage]) -> None:
        if queue:
            self._queues[adapter_id] = queue
        else:
            self._queues.pop(adapter_id, None)
        if not self._queues:
            self._oldest_arrival = None

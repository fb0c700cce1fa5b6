"""Where a worker's torch work runs: one long-lived thread, with as many intra-op threads as the CPUs it may use.

torch runs CPU ops on OpenMP, which gives every thread that calls into torch a thread team of its own, kept until
that thread ends; two teams on the same CPUs make every op sleep and wake (docs/renderer.md, "Threads"), and a job
thread started per job made a new team per job. So a worker loads its pipeline and runs every job on one
`TorchThread`, the only thread of the process that calls into torch.

Its thread count is the container's CPU quota (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`), else the CPUs the
process may run on; HEADSHOTS_TRAIN_THREADS overrides it. torch's own default is every CPU of the node, and on
CPUs shared with other work more threads than the quota made a step up to 10x slower.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
CGROUP = Path("/sys/fs/cgroup")


def cpu_quota(cgroup: Path = CGROUP) -> float | None:
    """The CPUs the container may use per period (2.5 for "250000 100000"), or None without a quota."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]  # cgroup v2: "max 100000" or "200000 100000"
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        quota_us = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((cgroup / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def torch_threads(configured: int = 0, cgroup: Path = CGROUP) -> int:
    """`configured` when set; else the CPU quota rounded up, at most the CPUs the process may run on."""
    if configured > 0:
        return configured
    available = len(os.sched_getaffinity(0))
    quota = cpu_quota(cgroup)
    return max(1, min(available, math.ceil(quota))) if quota else available


class TorchThread:
    """A daemon thread that runs the callables handed to it, one at a time (a hung job never blocks the process's
    exit). `threads` intra-op threads for torch on it."""

    def __init__(self, threads: int, name: str = "torch"):
        self.threads = threads
        self._calls: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    @property
    def ident(self) -> int | None:
        return self._thread.ident

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self._calls.put((fn, future))
        return future

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the thread and wait for its result (or its exception)."""
        return self.submit(fn).result()

    def close(self) -> None:
        """Stop once the calls handed over so far have run (not waiting for them)."""
        self._calls.put(None)

    def _serve(self) -> None:
        import torch

        torch.set_num_threads(self.threads)  # this thread's own count (and the default of threads not yet in torch)
        while (item := self._calls.get()) is not None:
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

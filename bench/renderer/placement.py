"""Where a measurement's torch work runs, and how far the benchmark has got.

torch's OpenMP threads spin between ops only while the process holds one OpenMP team per CPU set: each thread
that calls torch with several intra-op threads gets a team of its own, kept until the thread ends, and past
that every thread sleeps at every op (docs/renderer.md, "Threads"). So the benchmark keeps its main thread
single-threaded until the main-thread baseline runs, measures in-process work on fresh threads that end when
it is done (a lone team, as on a lone main thread), and reports the diffusers baseline both on the main thread
and on a worker thread beside it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from renderer.threads import run_torch_here

T = TypeVar("T")


def on_fresh_thread(fn: Callable[[], T], threads: int, name: str = "measure") -> T:
    """`fn()` on a new thread with `threads` torch threads; its OpenMP team ends with it."""
    outcome: list = []

    def target() -> None:
        try:
            run_torch_here(threads)
            outcome.append((True, fn()))
        except BaseException as exc:  # raised again on the caller's thread
            outcome.append((False, exc))

    thread = threading.Thread(target=target, name=name)
    thread.start()
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


class Progress:
    """Prints each step with the time so far and what is left, from the plan's estimated seconds scaled by how
    fast the finished steps actually went on this machine."""

    def __init__(self, label: str, plan: dict[str, float]):
        self.label, self.plan = label, plan
        self.started = time.perf_counter()
        self.done: list[str] = []
        self._current: str | None = None

    def step(self, name: str) -> None:
        if self._current is not None:
            self.done.append(self._current)
        self._current = name
        elapsed = time.perf_counter() - self.started
        planned_done = sum(self.plan.get(step, 0.0) for step in self.done)
        left = sum(seconds for step, seconds in self.plan.items() if step not in self.done)
        pace = elapsed / planned_done if planned_done else 1.0
        print(
            f"[{self.label} {elapsed:5.0f} s] {name} (about {left * pace:.0f} s left)",
            flush=True,
        )

"""The life of a long-running service process: a clean stop on SIGTERM/SIGINT, a liveness heartbeat."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path


def stop_on_signals() -> threading.Event:
    """An event set on SIGTERM (Kubernetes, `make down`) or SIGINT (Ctrl-C): loops finish their step and exit."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


class Heartbeat:
    """A file a worker loop touches on each turn; a liveness probe reads its age."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def beat(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()

    def is_fresh(self, max_age_s: float = 60.0) -> bool:
        return self.path.exists() and time.time() - self.path.stat().st_mtime < max_age_s


def heartbeat_of(var_dir: str | Path, process_name: str) -> Heartbeat:
    """The heartbeat file of a worker process ("trainer", "gateway-worker", ...) under HEADSHOTS_VAR_DIR."""
    return Heartbeat(Path(var_dir) / f"{process_name}.heartbeat")

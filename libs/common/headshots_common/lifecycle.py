"""The life of a long-running service process: a clean stop on SIGTERM/SIGINT, a heartbeat its probes read."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

# A loop that has not beaten for this long is dead to its liveness probe (and to the local stack's supervisor).
LIVENESS_MAX_AGE_S = 60.0


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

    def age_s(self) -> float | None:
        """Seconds since the last beat; None before the first."""
        try:
            return time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return None

    def is_fresh(self, max_age_s: float = LIVENESS_MAX_AGE_S) -> bool:
        age = self.age_s()
        return age is not None and age < max_age_s


def heartbeat_of(var_dir: str | Path, process_name: str) -> Heartbeat:
    """The heartbeat file of a worker process ("trainer", "gateway-worker", ...) under HEADSHOTS_VAR_DIR."""
    return Heartbeat(Path(var_dir) / f"{process_name}.heartbeat")


def probe(heartbeat: Heartbeat, argv: Sequence[str] | None = None) -> NoReturn:
    """A probe's command: exit 0 while `heartbeat` beat within `--max-age` seconds, else 1 saying how long ago.

    Liveness uses the default (a stuck loop gets the process restarted); readiness and start-up pass a short
    age, so a worker whose loops stopped, or have not started yet, is not counted as available.
    """
    parser = argparse.ArgumentParser(description="Exit 0 while the process's loop beats (a Kubernetes probe).")
    parser.add_argument("--max-age", type=float, default=LIVENESS_MAX_AGE_S, help="seconds (default: %(default)s)")
    max_age_s = parser.parse_args(argv).max_age
    age = heartbeat.age_s()
    if age is not None and age < max_age_s:
        sys.exit(0)
    print(f"{heartbeat.path.name}: " + ("no beat yet" if age is None else f"last beat {age:.0f} s ago"))
    sys.exit(1)

"""Run Locust headless in a process of its own and read back every request it made (bench/load/locustfile.py)."""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

LOCUSTFILE = Path(__file__).resolve().with_name("locustfile.py")

# (route, start as epoch seconds, milliseconds, HTTP status; 0 for a transport error)
Record = tuple[str, float, float, int]


@dataclass
class Live:
    """What Locust's own CSV says while it runs (it rewrites the file every second)."""

    requests: int = 0
    failures: int = 0
    rps: float = 0.0
    p99_ms: float = 0.0


@dataclass
class RouteStats:
    count: int
    errors: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def run_locust(
    host: str,
    user_classes: list[str],
    users: int,
    seconds: float,
    work_dir: Path,
    env: dict[str, str] | None = None,
    tick: Callable[[float, Live, int], None] | None = None,
) -> tuple[list[Record], int]:
    """`users` users of `user_classes` for `seconds` (all spawned in the first second); returns every request and the
    Locust process's pid. `tick(elapsed, live, pid)` is called about twice a second meanwhile."""
    work_dir.mkdir(parents=True, exist_ok=True)
    records_path, csv_prefix = work_dir / "records.json", work_dir / "locust"
    records_path.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        *user_classes,
        "--headless",
        "--host",
        host,
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{seconds:.0f}s",
        "--stop-timeout",
        "10",
        "--csv",
        str(csv_prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    log_path = work_dir / "locust.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            cmd,
            env={**os.environ, **(env or {}), "HEADSHOTS_LOAD_RECORDS": str(records_path)},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    started = time.monotonic()
    try:
        while process.poll() is None:
            if tick:
                tick(time.monotonic() - started, read_live(Path(f"{csv_prefix}_stats.csv")), process.pid)
            time.sleep(0.5)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
    # Locust exits 1 when any request failed: the records say which; anything else is Locust's own failure.
    if process.returncode not in (0, 1) or not records_path.exists():
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"locust exited with {process.returncode}; {log_path}:\n{tail}")
    records = [tuple(r) for r in json.loads(records_path.read_text())]
    return records, process.pid


def read_live(stats_csv: Path) -> Live:
    try:
        with open(stats_csv, newline="") as f:
            rows = [row for row in csv.DictReader(f) if row.get("Name") == "Aggregated"]
    except OSError:
        return Live()
    if not rows:
        return Live()
    row = rows[-1]

    def number(key: str) -> float:
        try:
            return float(row.get(key) or 0)
        except ValueError:  # "N/A" before the first request
            return 0.0

    return Live(int(number("Request Count")), int(number("Failure Count")), number("Requests/s"), number("99%"))


def summarise(records: list[Record], start: float | None = None, end: float | None = None) -> dict[str, RouteStats]:
    """Per route (and "all"), over the requests that started within [start, end) (epoch seconds; default: all).

    Throughput is requests over the window: the span of the requests' starts unless the window is given."""
    chosen = [r for r in records if (start is None or r[1] >= start) and (end is None or r[1] < end)]
    if not chosen:
        return {}
    first, last = min(r[1] for r in chosen), max(r[1] for r in chosen)
    span = (end - start) if start is not None and end is not None else max(last - first, 1e-9)
    by_route: dict[str, list[Record]] = defaultdict(list)
    for r in chosen:
        by_route[r[0]].append(r)
        by_route["all"].append(r)
    stats = {}
    for route, rs in sorted(by_route.items()):
        ms = [r[2] for r in rs]
        stats[route] = RouteStats(
            count=len(rs),
            errors=sum(1 for r in rs if not 200 <= r[3] < 400),
            rps=len(rs) / span,
            p50_ms=percentile(ms, 50),
            p95_ms=percentile(ms, 95),
            p99_ms=percentile(ms, 99),
        )
    return stats

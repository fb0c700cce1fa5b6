"""`make load`: Locust drives the gateway of a local stack; throughput, latency and errors per route, and whether
every gateway process's resident memory stays flat.

    python bench/load/run_load.py [--seconds 90] [--out FILE]      (bench/run.py passes --out; `make load` too)

1. Starts the whole local stack (headshots_tools.localstack) on free loopback ports under its own var folder
   ($HEADSHOTS_VAR_DIR, default var/load), on SQLite unless --database-url names a PostgreSQL server (then a
   scratch database of its own, dropped afterwards). Training and rendering are shrunk (16 steps, 4 render steps,
   the `trial` package), and the per-tenant rate limits are raised (HEADSHOTS_RATE_LIMIT and
   HEADSHOTS_ORDER_RATE_LIMIT): the load comes from a handful of accounts, each far over a real client's rate,
   and a 429 would count as an error. The limiter still counts every request.
2. Prepares the tenants: --completed consumer accounts that each ran one real order to completion (the demo's
   flow, headshots_tools.demo.run_demo), so there are headshots to download, and partners (API keys) for the rest
   of --tenants; Locust's users take them in turn.
3. Steps the offered rate: reading users (each paced at --pace tasks/s: status reads 20, headshot downloads 4,
   headshot listings 1) double each step of --step-seconds, while --uploaders users each create an order and
   upload five real portraits every --upload-every-s, until status reads' p99 reaches --p99-goal-ms, any request
   fails or the stack falls behind the offered reads; the last step that passed is the highest rate the stack
   sustains. One more step between the last pass and the first failure narrows it down.
4. Runs that rate for --seconds, sampling every gateway process's RSS (gunicorn master and workers, gateway-worker,
   gateway-grpc) and the CPU of each process group once a second; RSS is flat when its mean over the last third of
   the run exceeds the first third's by less than --rss-limit-mb.

Locust runs in a process of its own (bench/load/locustfile.py); nothing of it runs in a gateway process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from locust_run import RouteStats, run_locust, summarise

from headshots_tools.cli import _progress, console
from headshots_tools.demo import ApiClient, run_demo
from headshots_tools.localstack import REPO_ROOT, Ports, Stack, scratch_database, session_members

STATUS = "GET /v1/orders/{id}"
UPLOAD = "POST /v1/orders/{id}/photos"
READS = {STATUS, "GET /v1/orders/{id}/headshots", "GET /v1/orders/{id}/headshots/{hid}.png"}
STYLES = ["corporate-navy", "tech-grey"]
GATEWAY_SERVICES = ("gateway-web", "gateway-worker", "gateway-grpc", "photo-checker", "photo-checker-2")

# Small, quick jobs: the completed orders only need to exist. The per-tenant limits sit far above the run's rate.
LOAD_ENV = {
    "HEADSHOTS_TRAIN_STEPS": "16",
    "HEADSHOTS_TRAIN_CHECKPOINT_EVERY": "4",
    "HEADSHOTS_TRAIN_PROBE_IMAGES": "1",
    "HEADSHOTS_TRAIN_PROBE_STEPS": "2",
    "HEADSHOTS_RENDER_STEPS": "4",
    "HEADSHOTS_RATE_LIMIT": "1000000/min",
    "HEADSHOTS_ORDER_RATE_LIMIT": "1000000/min",
}


# -- sampling ------------------------------------------------------------------------------------------------------
@dataclass
class Sample:
    t: float  # epoch seconds
    rss_mb: dict[str, float]  # per gateway process
    cpu_s: dict[str, float]  # cumulative CPU seconds per group, and "machine" (busy time of every core)


@dataclass
class Sampler:
    """Once a second: the RSS of every gateway process and the CPU time of each group of processes."""

    stack: Stack
    samples: list[Sample] = field(default_factory=list)
    locust_pid: int = 0
    restarted: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _pids: dict[str, int] = field(default_factory=dict)
    _procs: dict[int, psutil.Process] = field(default_factory=dict)

    def start(self) -> None:
        threading.Thread(target=self._run, name="sampler", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            with contextlib.suppress(Exception):  # a process that ends between listing and reading it
                self.samples.append(self._sample())

    def _proc(self, pid: int) -> psutil.Process:
        if pid not in self._procs:
            self._procs[pid] = psutil.Process(pid)
        return self._procs[pid]

    def gateway_processes(self) -> dict[str, int]:
        """name -> pid: gunicorn's master and its workers (by age), gateway-worker, gateway-grpc."""
        named = {}
        for service in GATEWAY_SERVICES:
            pidfile = self.stack.run_dir / f"{service}.pid"
            if not pidfile.exists():
                continue
            sid = int(pidfile.read_text())
            members = sorted(session_members(sid), key=lambda pid: (pid != sid, self._proc(pid).create_time()))
            if service == "gateway-web":
                for n, pid in enumerate(members):
                    named["gateway_web_master" if pid == sid else f"gateway_web_worker_{n}"] = pid
            elif members:
                named[service.replace("-", "_")] = members[0]
        return named

    def _sample(self) -> Sample:
        named = self.gateway_processes()
        for name, pid in named.items():
            if self._pids.setdefault(name, pid) != pid:
                self.restarted.add(name)  # its RSS series starts over: growth across it means nothing
        rss = {name: self._proc(pid).memory_info().rss / 2**20 for name, pid in named.items()}
        cpu: dict[str, float] = {}
        for name, pid in named.items():
            group = next((g for g in ("gateway_web", "photo_checker") if name.startswith(g)), name)
            times = self._proc(pid).cpu_times()
            cpu[group] = cpu.get(group, 0.0) + times.user + times.system
        if self.locust_pid:
            with contextlib.suppress(psutil.Error):
                times = self._proc(self.locust_pid).cpu_times()
                cpu["locust"] = times.user + times.system
        machine = psutil.cpu_times()
        cpu["machine"] = machine.user + machine.nice + machine.system + machine.irq + machine.softirq + machine.steal
        return Sample(time.time(), rss, cpu)

    def window(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.t <= end]


def cpu_percent(samples: list[Sample]) -> dict[str, float]:
    """Per group, CPU used over the samples' span, in % of one core ("machine": all cores' busy time)."""
    if len(samples) < 2:
        return {}
    first, last = samples[0], samples[-1]
    span = last.t - first.t
    out = {g: 100 * (last.cpu_s[g] - first.cpu_s[g]) / span for g in last.cpu_s if g in first.cpu_s}
    out["other"] = out.get("machine", 0.0) - sum(v for g, v in out.items() if g != "machine")
    return {g: round(v, 1) for g, v in out.items()}


def rss_growth(samples: list[Sample]) -> dict[str, tuple[float, float]]:
    """Per process: (MB of growth, mean of the last third minus the first third's; mean RSS in MB)."""
    third = max(1, len(samples) // 3)
    growth = {}
    for name in samples[-1].rss_mb if samples else {}:
        series = [s.rss_mb[name] for s in samples if name in s.rss_mb]
        head, tail = series[:third], series[-third:]
        growth[name] = (sum(tail) / len(tail) - sum(head) / len(head), sum(series) / len(series))
    return growth


# -- the run -------------------------------------------------------------------------------------------------------
@dataclass
class Step:
    users: int
    offered: float  # tasks/s the users would run if the stack kept up
    stats: dict[str, RouteStats]
    cpu: dict[str, float]
    passed: bool
    why: str


class LoadRun:
    def __init__(self, args: argparse.Namespace, stack: Stack):
        self.args, self.stack = args, stack
        self.work = stack.var_dir / "load"
        self.sampler = Sampler(stack)

    def prepare_tenants(self, progress) -> list[dict]:
        """--completed consumers whose first order ran to completion (the demo's flow), and partners (API keys from
        `manage.py partner create`) for the rest of --tenants; each also has two orders awaiting photos."""
        a = self.args
        task = progress.add_task(f"completing {a.completed} orders (training is minutes on a CPU)", total=a.completed)

        def waiting(client: ApiClient) -> list[str]:
            body = {"package": "trial", "styles": STYLES}
            return [client.json("POST", "/v1/orders", 201, body=body)["id"] for _ in range(2)]

        def consumer(_) -> dict:
            result = run_demo(self.stack, package="trial", styles=STYLES, out_dir=self.work / "demo", timeout_s=900)
            if result.state != "completed":
                reason = result.order.get("failure_reason")
                raise RuntimeError(f"order {result.order_id} ended {result.state}: {reason}")
            client = ApiClient(self.stack.gateway_url, result.api_key)
            listing = client.json("GET", f"/v1/orders/{result.order_id}/headshots", 200)
            progress.advance(task)
            return {
                "key": result.api_key,
                "completed": result.order_id,
                "orders": [result.order_id, *waiting(client)],
                "headshots": [h["download_url"] for h in listing["results"]],
            }

        def partner(n: int) -> dict:
            key = self.stack.manage("partner", "create", f"load-{n}").strip().splitlines()[-1]
            return {"key": key, "completed": None, "orders": waiting(ApiClient(self.stack.gateway_url, key))}

        partners = [partner(n) for n in range(max(0, a.tenants - a.completed))]
        with ThreadPoolExecutor(max_workers=max(1, a.completed)) as pool:
            consumers = list(pool.map(consumer, range(a.completed)))
        progress.remove_task(task)
        return consumers + partners

    def locust(self, progress, label: str, users: int, seconds: float, run_dir: Path) -> tuple[list, float, float]:
        task = progress.add_task(label, total=seconds)

        def tick(elapsed, live, pid):
            self.sampler.locust_pid = pid
            errors = f", [red]{live.failures} errors[/]" if live.failures else ""
            progress.update(
                task,
                completed=min(elapsed, seconds),
                description=f"{label}: {live.rps:.0f} req/s, p99 {live.p99_ms:.0f} ms{errors}",
            )

        a = self.args
        env = {
            "HEADSHOTS_LOAD_PLAN": str(self.work / "plan.json"),
            "HEADSHOTS_LOAD_PACE": str(a.pace),
            "HEADSHOTS_LOAD_UPLOADERS": str(a.uploaders),
            "HEADSHOTS_LOAD_UPLOAD_EVERY_S": str(a.upload_every_s),
        }
        classes = ["Tenant", "Uploader"] if a.uploaders else ["Tenant"]
        records, _ = run_locust(self.stack.gateway_url, classes, users + a.uploaders, seconds, run_dir, env, tick)
        progress.remove_task(task)
        if not records:
            raise RuntimeError(f"{label}: Locust sent no request; see {run_dir / 'locust.log'}")
        # From the first request on (Locust takes a moment to start); the first second spawns the users.
        return records, min(r[1] for r in records) + 1, max(r[1] for r in records)

    def step(self, progress, users: int, n: int) -> Step:
        a = self.args
        records, start, end = self.locust(
            progress, f"step {n}: {users} users", users, a.step_seconds, self.work / f"step-{n}-{users}u"
        )
        stats = summarise(records, start, end)
        offered = users * a.pace
        status, every = stats.get(STATUS), stats.get("all")
        if status is None or every is None:
            return Step(users, offered, stats, {}, False, "no requests completed")
        tasks_rps = sum(s.rps for route, s in stats.items() if route in READS)
        why = ""
        if every.errors:
            why = f"{every.errors} errors"
        elif status.p99_ms >= a.p99_goal_ms:
            why = f"status reads p99 {status.p99_ms:.1f} ms >= {a.p99_goal_ms:.0f} ms"
        elif tasks_rps < 0.9 * offered:
            why = f"fell behind: {tasks_rps:.0f} of {offered:.0f} reads/s"
        cpu = cpu_percent(self.sampler.window(start, end))
        return Step(users, offered, stats, cpu, not why, why)

    def run(self) -> dict:
        a = self.args
        with _progress() as progress:
            task = progress.add_task("starting the stack", total=1)
            self.stack.up(lambda what, done, n: progress.update(task, description=what, completed=done, total=n))
            progress.remove_task(task)
            tenants = self.prepare_tenants(progress)
            self.work.mkdir(parents=True, exist_ok=True)
            (self.work / "plan.json").write_text(json.dumps({"tenants": tenants, "styles": STYLES}))
            self.sampler.start()
            if a.mixed_only:
                mixed = self.ten_phone_photos(tenants[0]["key"]) | self.mixed(progress)
                self.sampler.stop()
                mixed["_config"] = {
                    "run": "--mixed-only",
                    "server": "gateway-web as localstack runs it: gunicorn, 2 workers x 16 threads (gthread); 2 photo "
                    "checkers at nice 10",
                    "load_average_1_5_15_at_end": [round(x, 1) for x in os.getloadavg()],
                }
                return mixed
            steps: list[Step] = []
            users = a.start_users
            while users <= a.max_users:
                steps.append(self.step(progress, users, len(steps) + 1))
                console.print(self._step_line(steps[-1]))
                if not steps[-1].passed:
                    break
                users *= 2
            # Not even the first step held: halve down to one reader, to find the rate that does.
            while not any(x.passed for x in steps) and steps[-1].users > 1:
                steps.append(self.step(progress, steps[-1].users // 2, len(steps) + 1))
                console.print(self._step_line(steps[-1]))
            passed = [s for s in steps if s.passed]
            # One step between the last pass and the first failure narrows the rate down.
            if passed and not steps[-1].passed and steps[-1].users > passed[-1].users + 1:
                middle = (passed[-1].users + steps[-1].users) // 2
                steps.append(self.step(progress, middle, len(steps) + 1))
                console.print(self._step_line(steps[-1]))
                passed = [s for s in steps if s.passed]
            best = max(passed, key=lambda s: s.users) if passed else steps[0]
            records, start, end = self.locust(
                progress, f"main run: {best.users} users", best.users, a.seconds, self.work / "main"
            )
            window = self.sampler.window(start, end)
            mixed = self.ten_phone_photos(tenants[0]["key"]) | self.mixed(progress)
            self.sampler.stop()
        return self.figures(steps, best, summarise(records, start, end), window, tenants) | mixed

    def ten_phone_photos(self, key: str) -> dict:
        """Ten phone-sized (12 MP) photos uploaded as the studio uploads them (four requests at a time, each answered
        once received, `Prefer: respond-async`), then their verdicts read every half second as the studio does: the
        seconds from the last byte (the last upload answered) until every verdict is in."""
        client = ApiClient(self.stack.gateway_url, key)
        photos = phone_photos(self.work / "phone", 10)
        order = client.json("POST", "/v1/orders", 201, body={"package": "trial", "styles": STYLES})["id"]

        def upload(photo: Path) -> float:
            client.json("POST", f"/v1/orders/{order}/photos", 202, files=[photo], headers={"Prefer": "respond-async"})
            return time.monotonic()

        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            last_byte = max(pool.map(upload, photos))
        while True:
            states = [p["state"] for p in client.json("GET", f"/v1/orders/{order}/photos", 200)["results"]]
            if "checking" not in states:
                break
            time.sleep(0.5)
        done = time.monotonic()
        megabytes = sum(p.stat().st_size for p in photos) / 2**20
        note = (
            f"10 photos of 4000x3200 ({megabytes:.0f} MB) uploaded 4 at a time as the studio does, verdicts polled "
            f"every 0.5 s; uploads took {last_byte - started:.1f} s; {states.count('accepted')} accepted; "
            f"a quiet stack with 2 checkers on {psutil.cpu_count()} shared CPUs"
        )
        return {"photos.ten_phone_verdicts_s": fig(done - last_byte, "s", note)}

    def mixed(self, progress) -> dict:
        """The issue's mixed load: --mixed-readers readers at --mixed-pace reads/s each while --mixed-uploaders users
        upload 5-photo batches back to back, each waiting for its verdicts (the photo checker's processes check
        them). Status p99 and errors of the readers; upload to verdict (the upload's answer carries the verdicts)."""
        a = self.args
        if not a.mixed_seconds:
            return {}
        env = {
            "HEADSHOTS_LOAD_PLAN": str(self.work / "plan.json"),
            "HEADSHOTS_LOAD_PACE": str(a.mixed_pace),
            "HEADSHOTS_LOAD_UPLOADERS": str(a.mixed_uploaders),
            "HEADSHOTS_LOAD_UPLOAD_EVERY_S": "0",  # back to back
        }
        label = f"mixed: {a.mixed_readers} readers x {a.mixed_pace:g}/s, {a.mixed_uploaders} uploaders"
        task = progress.add_task(label, total=a.mixed_seconds)

        def tick(elapsed, live, pid):
            self.sampler.locust_pid = pid
            progress.update(
                task, completed=min(elapsed, a.mixed_seconds), description=f"{label}: p99 {live.p99_ms:.0f} ms"
            )

        users = a.mixed_readers + a.mixed_uploaders
        records, _ = run_locust(
            self.stack.gateway_url, ["Tenant", "Uploader"], users, a.mixed_seconds, self.work / "mixed", env, tick
        )
        progress.remove_task(task)
        if not records:
            raise RuntimeError(f"mixed: Locust sent no request; see {self.work / 'mixed' / 'locust.log'}")
        start, end = min(r[1] for r in records) + 1, max(r[1] for r in records)
        stats = summarise(records, start, end)
        status, upload, every = stats.get(STATUS), stats.get(UPLOAD), stats["all"]
        cpu = cpu_percent(self.sampler.window(start, end))
        where = (
            f"{a.mixed_readers} readers at {a.mixed_pace:g} reads/s each beside {a.mixed_uploaders} uploaders of "
            f"5-photo batches back to back, {a.mixed_seconds:.0f} s; {psutil.cpu_count()} CPUs shared with other work"
        )
        result = {
            "load.mixed.readers": fig(a.mixed_readers, "users", f"{a.mixed_pace:g} reads/s each"),
            "load.mixed.uploaders": fig(
                a.mixed_uploaders, "users", "5-photo batches back to back, each waiting for its verdicts"
            ),
            "load.mixed.status_p99_ms": fig(status.p99_ms if status else 0.0, "ms", f"status reads, {where}"),
            "load.mixed.status_rps": fig(status.rps if status else 0.0, "req/s", "status reads"),
            "load.mixed.errors": fig(every.errors, "requests", f"failed of {every.count}, every route"),
            "load.mixed.verdict_p95_s": fig(
                upload.p95_ms / 1000 if upload else 0.0,
                "s",
                "upload to verdict: a 5-photo upload from its first byte to its answer, which carries the 5 verdicts",
            ),
            "load.mixed.batches": fig(upload.count if upload else 0, "uploads", "5-photo uploads answered in the run"),
        }
        for group, pct in sorted(cpu.items()):
            result[f"load.mixed.cpu_pct.{group}"] = fig(pct, "% of a core", "mixed run")
        return result

    @staticmethod
    def _step_line(step: Step) -> str:
        status = step.stats.get(STATUS)
        p99 = f"status p99 {status.p99_ms:.1f} ms, {status.rps:.0f} status reads/s" if status else "no status reads"
        verdict = "[green]sustained[/]" if step.passed else f"[red]not sustained[/] ({step.why})"
        total = step.stats["all"].rps if "all" in step.stats else 0.0
        cpu = ", ".join(f"{g} {v:.0f}%" for g, v in step.cpu.items())
        offered = f"{step.users:4d} readers ({step.offered:.0f} reads/s offered)"
        return f"{offered}: {total:.0f} req/s, {p99}; {verdict}; CPU {cpu}"

    # -- the figures -------------------------------------------------------------------------------------------
    def figures(self, steps, best: Step, main: dict[str, RouteStats], window: list[Sample], tenants) -> dict:
        a = self.args
        machine = f"{psutil.cpu_count()} CPUs shared with other work; absolute figures are noisy"
        status, every = main.get(STATUS), main.get("all")
        if status is None or every is None:
            raise RuntimeError("the main run completed no status reads")
        cpu = cpu_percent(window)
        growth = rss_growth(window)
        flat = all(g < a.rss_limit_mb for g, _ in growth.values()) and not self.sampler.restarted
        limit = limiting_factor(steps, best, cpu)
        result: dict = {
            "load.status_reads_rps": fig(
                status.rps, "req/s", f"main run, {best.users} readers and {a.uploaders} uploader(s) ({machine})"
            ),
            "load.status_reads_p50_ms": fig(status.p50_ms, "ms", "at that rate, Locust's clock (client side)"),
            "load.status_reads_p95_ms": fig(status.p95_ms, "ms", "at that rate"),
            "load.status_reads_p99_ms": fig(
                status.p99_ms, "ms", f"at that rate; the goal is under {a.p99_goal_ms:.0f} ms with 0 errors"
            ),
            "load.rps": fig(every.rps, "req/s", "every route together, main run"),
            "load.error_rate": fig(every.error_rate, "ratio", f"failed / all requests ({every.count}), main run"),
            "load.sustained_users": fig(
                best.users,
                "users",
                f"readers at the highest step with status p99 < {a.p99_goal_ms:.0f} ms, 0 errors and the offered "
                f"reads kept ({a.pace} reads/s per user, doubling from {a.start_users}); limited by: {limit}",
            ),
            "load.sustained_reads_rps": fig(
                sum(s.rps for route, s in best.stats.items() if route in READS) if best.passed else 0.0,
                "req/s",
                f"reads/s of that step ({a.step_seconds:.0f} s; 0 when no step passed)",
            ),
        }
        for route, s in main.items():
            if route == "all":
                continue
            slug = route_slug(route)
            result[f"load.{slug}.rps"] = fig(s.rps, "req/s", route)
            result[f"load.{slug}.p50_ms"] = fig(s.p50_ms, "ms", route)
            result[f"load.{slug}.p95_ms"] = fig(s.p95_ms, "ms", route)
            result[f"load.{slug}.p99_ms"] = fig(s.p99_ms, "ms", route)
            result[f"load.{slug}.error_rate"] = fig(s.error_rate, "ratio", f"{route}: {s.errors} of {s.count} failed")
        for name, (mb, mean) in sorted(growth.items()):
            restarted = " (restarted during the run)" if name in self.sampler.restarted else ""
            result[f"load.rss_growth_mb.{name}"] = fig(
                mb, "MB", f"mean RSS of the run's last third minus its first third's; mean {mean:.0f} MB{restarted}"
            )
        result["load.rss_flat"] = fig(
            int(flat), "bool", f"1 when every gateway process grew < {a.rss_limit_mb:.0f} MB (last third vs first)"
        )
        for group, pct in sorted(cpu.items()):
            result[f"load.cpu_pct.{group}"] = fig(pct, "% of a core", "main run")
        result["_config"] = {
            "seconds": a.seconds,
            "step_seconds": a.step_seconds,
            "pace_tasks_per_user_s": a.pace,
            "task_mix": "readers: status read 20, headshot download 4, headshot listing 1; beside them "
            f"{a.uploaders} uploader(s): an order created and 5 portraits uploaded every {a.upload_every_s:.0f} s",
            "tenants": f"{len(tenants)}: {self.args.completed} consumers with a completed order, the rest partners "
            "(they read a status where a consumer downloads a headshot)",
            "database": "PostgreSQL (scratch database)" if a.database_url else "SQLite (WAL)",
            "server": "gateway-web as localstack runs it: gunicorn, 2 workers x 16 threads (gthread); cache locmem",
            "rate_limits": {k: v for k, v in LOAD_ENV.items() if "RATE_LIMIT" in k},
            "client": "Locust (FastHttpUser) in its own process on the same machine",
            "steps": [
                {
                    "users": s.users,
                    "req_s": round(s.stats["all"].rps, 1) if "all" in s.stats else 0,
                    "status_p99_ms": round(s.stats[STATUS].p99_ms, 1) if STATUS in s.stats else None,
                    "passed": s.passed,
                    "why": s.why,
                    "cpu_pct": s.cpu,
                }
                for s in steps
            ],
            "rss_restarted": sorted(self.sampler.restarted),
            # Other work on the machine shows here (and as "other" CPU): figures from a busy machine are low.
            "load_average_1_5_15_at_end": [round(x, 1) for x in os.getloadavg()],
        }
        return result


def phone_photos(folder: Path, count: int) -> list[Path]:
    """`count` phone-sized (12.8 MP) JPEGs of one person: the fixture frames (5:4) scaled up to 4000x3200."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    frames = sorted((REPO_ROOT / "tests" / "fixtures" / "people" / "franck").glob("*.jpg"))
    photos = []
    for n in range(count):
        path = folder / f"phone-{n:02d}.jpg"
        if not path.exists():
            with Image.open(frames[n % len(frames)]) as frame:
                frame.convert("RGB").resize((4000, 3200), Image.Resampling.LANCZOS).save(path, quality=90)
        photos.append(path)
    return photos


def limiting_factor(steps: list[Step], best: Step, cpu: dict[str, float]) -> str:
    """What stopped the next step: the failing step's reason and where the CPU went."""
    failed = min((s for s in steps if not s.passed and s.users > best.users), key=lambda s: s.users, default=None)
    if failed is None:
        return "not reached: every step passed (raise --max-users)"
    cores = psutil.cpu_count() or 1
    busy = failed.cpu.get("machine", 0.0)
    share = ", ".join(f"{g} {v:.0f}%" for g, v in failed.cpu.items() if g != "machine")
    saturated = "the machine's CPUs were saturated" if busy > 85 * cores else f"CPUs {busy / cores:.0f}% busy"
    return f"at {failed.users} users {failed.why}; {saturated} ({share} of a core)"


def route_slug(route: str) -> str:
    """ "GET /v1/orders/{id}/headshots/{hid}.png" -> "get_orders_id_headshots_hid_png"."""
    method, path = route.split(" ", 1)
    parts = [p.replace("{", "").replace("}", "").replace(".", "_") for p in path.split("/") if p and p != "v1"]
    return "_".join([method.lower(), *parts])


def fig(value: float, unit: str, note: str) -> dict:
    shown = round(value, 4 if unit == "ratio" else 2) if isinstance(value, float) else value
    return {"value": shown, "unit": unit, "note": note}


def print_table(result: dict) -> None:
    table = Table(title="load")
    for column in ("figure", "value", "unit"):
        table.add_column(column)
    for key, f in result.items():
        if not key.startswith("_"):
            table.add_row(key, str(f["value"]), f["unit"])
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="write the figures (bench/run.py format) to this file")
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("HEADSHOTS_LOAD_SECONDS", 90)))
    parser.add_argument("--step-seconds", type=float, default=15.0)
    parser.add_argument("--tenants", type=int, default=6, help="accounts (consumers and partners) the users share")
    parser.add_argument("--completed", type=int, default=2, help="of which consumers with a completed order")
    parser.add_argument("--pace", type=float, default=1.0, help="tasks per second per Locust user")
    parser.add_argument("--uploaders", type=int, default=1, help="users creating orders and uploading photos")
    parser.add_argument("--upload-every-s", type=float, default=10.0, help="each uploader starts an order this often")
    parser.add_argument("--start-users", type=int, default=4)
    parser.add_argument("--max-users", type=int, default=512)
    parser.add_argument("--p99-goal-ms", type=float, default=50.0)
    parser.add_argument("--rss-limit-mb", type=float, default=10.0)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("HEADSHOTS_LOAD_DATABASE_URL", ""),
        help="a PostgreSQL server (postgresql://...): the run makes a scratch database there; default SQLite",
    )
    parser.add_argument("--mixed-readers", type=int, default=16, help="readers of the mixed run")
    parser.add_argument("--mixed-pace", type=float, default=5.0, help="reads/s of each reader in the mixed run")
    parser.add_argument("--mixed-uploaders", type=int, default=4, help="uploaders of 5-photo batches, back to back")
    parser.add_argument("--mixed-seconds", type=float, default=60.0, help="length of the mixed run (0: none)")
    parser.add_argument("--mixed-only", action="store_true", help="only the mixed run (no completed orders, no steps)")
    parser.add_argument("--quick", action="store_true", help="short steps and main run (a smoke run)")
    args = parser.parse_args(argv)
    if args.mixed_only:
        args.completed = 0
    if args.quick:
        args.seconds, args.step_seconds, args.tenants, args.completed = min(args.seconds, 20), 8, 3, 1
    # The stack's own database unless one is asked for: never a DATABASE_URL that happens to be set.
    os.environ.pop("DATABASE_URL", None)
    var_dir = Path(os.environ.get("HEADSHOTS_VAR_DIR") or REPO_ROOT / "var" / "load")
    with scratch_database(args.database_url) as db_env:
        stack = Stack(var_dir=var_dir, ports=Ports.free(), extra_env={**LOAD_ENV, **db_env})
        try:
            result = LoadRun(args, stack).run()
        finally:
            stopped = stack.down()
            console.print(f"stopped {len(stopped)} services")
    print_table(result)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

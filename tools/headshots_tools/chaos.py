"""A chaos run: the local stack shaped like a cluster, many orders, and faults at random; then an account of it.

`make chaos` (or `python -m headshots_tools.chaos --orders N --out FILE`):

- a local stack on free loopback ports with 2 trainer workers, 2 renderer replicas and the supervisor that
  restarts what dies (as Kubernetes would), on a PostgreSQL server and an S3 server (moto, behind a fault
  proxy) of the run's own (without initdb at hand: SQLite, and no database restart);
- N orders (default 40, at most 1,000) placed, photographed and submitted through the REST API by a client
  that retries, as a partner's should, what an outage refuses (5xx, 429, refused connections; creation with
  an Idempotency-Key);
- faults, one every `--fault-every` seconds on average during the fault window (60 s + 6 s per order), at
  random: a trainer worker SIGKILLed, or paused (SIGSTOP) for twice its lease and woken again (its job is
  taken over meanwhile and its writes on waking are refused), a renderer replica, the gateway's worker
  (outbox relay and event consumer) or the render dispatcher SIGKILLed; and on a schedule: the broker
  restarted (it keeps nothing) at 25 s, a third trainer joining at 40 s, PostgreSQL stopped at once (as in a
  crash) and started 5 s later at 55 s, and the blob store answering every request 503 for 10 s at 85 s (each
  sooner where 10%, 20%, 30%, 50% of the orders are completed or failed by then, so that a fast machine
  meets them too); the
  last two again every 240 s while the window lasts; about 20% of the orders deleted, each at a chosen stage
  (photos uploaded, training, rendering, completed);
- progress with an estimate of the time left every 30 s, and at the end every order's fate and the figures
  below, printed as a table and returned. Bounded: the run gives up after its deadline (300 s + 20 s per
  order) and stops the stack whatever happens.

The figures, each with a bar of 0 but the counts of fates:
- `lost`: orders neither completed, failed with a stated reason, nor deleted.
- `trained_twice`: orders whose training work was done twice. The trainer records every run of an order's
  training in the order's job record (lease token, holder, the step it resumed from, the step of the
  checkpoint the record named when it started, the last step it reached); the run reads every order's record
  every 2 s (a deleted order counts up to its deletion). An order counts when (a) one of its runs started
  from an earlier step than the checkpoint the record named when it started (saved work lost, overwritten
  or ignored: that run trained again what was already trained), or (b) its record started over (one lease
  token held by two different workers: the record was lost and the order trained again from nothing). A
  run that resumes from the last checkpoint after a kill, a pause or a stall is not training twice: it redoes
  only the steps since that checkpoint (fewer than HEADSHOTS_TRAIN_CHECKPOINT_EVERY, plus what a fenced-out
  run did before its next write was refused), counted apart as `redone_steps` (from the recorded steps,
  which are written at most twice a second: a lower bound).
- `deleted_leftovers`: blobs under a deleted order's prefix and adapters of it any renderer replica holds,
  at the end.
- `missing_purge_reports`: for each deleted order, the renderer replicas that were running when it was
  deleted (the receipt's holders, as the gateway knew them from their presence announcements) and are still
  running at the end, yet had not reported purging it (`CachesPurged`) when the account was taken (it waits up
  to 60 s for them). A replica killed in between took its memory with it: it is counted apart, as
  `purges_owed_by_killed_replicas`.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headshots_common import blob_layout
from headshots_common.blobstore import S3BlobStore
from headshots_tools.demo import DEMO_PHOTOS, ApiClient
from headshots_tools.faultproxy import FaultProxy
from headshots_tools.localstack import Ports, Stack, session_members
from headshots_tools.ports import free_port
from headshots_tools.postgres import OwnPostgres
from trainer.training_jobs import Run, TrainingJobStore

log = logging.getLogger("chaos")

STAGES = ("photos uploaded", "training", "rendering", "completed")
FAULTS = ("trainer worker", "trainer paused", "renderer replica", "gateway worker", "render dispatcher")
MAX_ORDERS = 1000
BUCKET = "headshots-chaos"
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "chaos", "AWS_SECRET_ACCESS_KEY": "chaos", "AWS_DEFAULT_REGION": "us-east-1"}
POSTGRES_DOWN_S = 5.0  # a restart: stopped at once, as in a crash, and started again this much later
BLOB_OUTAGE_S = 10.0  # the blob store answers every request 503 for this long
# (first at, then every, or first as soon as this share of the orders is completed or failed): seconds from the
# start, while the fault window lasts; None: once. The share brings a fault forward on a machine fast enough to
# finish the orders before its time comes (a fault after the last order meets nothing).
SCHEDULE = {
    "broker restart": (25.0, None, 0.1),
    "third trainer": (40.0, None, 0.2),
    "postgres restart": (55.0, 240.0, 0.3),
    "blob store outage": (85.0, 240.0, 0.5),
}
RECORD_POLL_S = 2.0
PROGRESS_EVERY_S = 30.0
PHOTO_CHECK_PATIENCE_S = 300.0  # how long an order's submission waits for its photos' verdicts
PURGE_REPORT_PATIENCE_S = 60.0  # how long the account waits for a running replica's purge report
REPLICA_RESTART_PATIENCE_S = 90.0  # how long the account waits for Serve to restart a replica killed late

# Small and quick jobs: the run is about faults, not image quality.
CHAOS_ENV = {
    "HEADSHOTS_TRAIN_STEPS": "16",
    "HEADSHOTS_TRAIN_CHECKPOINT_EVERY": "4",
    "HEADSHOTS_TRAIN_PROBE_IMAGES": "1",
    "HEADSHOTS_TRAIN_PROBE_STEPS": "2",
    "HEADSHOTS_RENDER_STEPS": "4",
    "HEADSHOTS_TRAINER_LEASE_S": "6",
    "HEADSHOTS_TRAIN_STALL_S": "60",
    "HEADSHOTS_STALL_S": "20",
    "HEADSHOTS_RETENTION_SWEEP_S": "5",
    "HEADSHOTS_RENDER_DELETION_SWEEP_S": "5",
    "HEADSHOTS_RATE_LIMIT": "100000/min",
    "HEADSHOTS_ORDER_RATE_LIMIT": "100000/min",
}
PAUSE_S = 2 * float(CHAOS_ENV["HEADSHOTS_TRAINER_LEASE_S"]) + 2  # a paused trainer's job is taken over meanwhile


@dataclass
class Order:
    id: str
    delete_at: str | None = None  # the stage at which it is deleted, or None
    deleted_at: str | None = None  # the stage it was in when it was deleted
    state: str = "awaiting_photos"
    failure_reason: str = ""
    progress_percent: float = 0.0
    stuck: str = ""  # why the run gave up on it before it could be submitted (it counts as lost)


@dataclass
class ChaosLog:
    faults: Counter = field(default_factory=Counter)
    events: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, what: str, started: float) -> None:
        with self.lock:
            self.events.append((round(time.monotonic() - started, 1), what))
        log.info("chaos: %s", what)


class PatientClient(ApiClient):
    """The API client as a partner's should be: what an outage refuses (5xx, 429, a refused or cut connection) is
    tried again with backoff, for up to `patience_s`. Creating an order carries an Idempotency-Key, so that a
    retry never makes a second one."""

    RETRY_STATUSES = (429, 500, 502, 503, 504)

    def __init__(self, base_url: str, api_key: str, patience_s: float = 120.0):
        super().__init__(base_url, api_key)
        self.patience_s = patience_s
        self.retries = 0
        self._lock = threading.Lock()

    def request(self, method, path, body=None, files=None, headers=None):
        if method == "POST" and path == "/v1/orders":
            headers = {"Idempotency-Key": uuid.uuid4().hex, **(headers or {})}
        deadline, delay = time.monotonic() + self.patience_s, 0.5
        while True:
            try:
                status, payload = super().request(method, path, body=body, files=files, headers=headers)
                if status not in self.RETRY_STATUSES:
                    return status, payload
                failure: object = f"{status} {payload!r}"[:300]
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as exc:
                failure = exc
            if time.monotonic() + delay > deadline:
                raise RuntimeError(f"{method} {path} kept failing for {self.patience_s:.0f} s: {failure}")
            with self._lock:
                self.retries += 1
            log.info("%s %s: %s; trying again in %.1f s", method, path, failure, delay)
            time.sleep(delay)
            delay = min(delay * 2, 8.0)


def _error_code(body: object) -> str:
    return body.get("error", {}).get("code", "") if isinstance(body, dict) else ""


def _replica_pids(stack: Stack) -> list[int]:
    """The Ray worker processes that host the renderer's Serve replicas."""
    pidfile = stack.run_dir / "renderer.pid"
    if not pidfile.exists():
        return []
    pids = []
    for pid in session_members(int(pidfile.read_text())):
        try:
            cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "ServeReplica" in cmdline and "Renderer" in cmdline:
            pids.append(pid)
    return pids


def trained_twice(runs: list[Run]) -> bool:
    """Whether these runs of one order's training (every run any record of it showed) did its work twice: one
    started from an earlier step than the checkpoint its record named (saved work lost or ignored), or the
    record started over (one lease token held by two workers). See the module's docstring."""
    if any(run.from_step < run.saved_step for run in runs):
        return True
    holders: dict[int, str] = {}
    return any(holders.setdefault(run.token, run.holder) != run.holder for run in runs)


def redone_steps(runs: list[Run]) -> int:
    """Steps that runs trained again after a takeover: for each run, how far earlier runs had got (as recorded)
    beyond the step it resumed from."""
    redone, reached = 0, 0
    for run in sorted(runs, key=lambda r: r.token):
        redone += max(0, reached - run.from_step)
        reached = max(reached, run.reached_step)
    return redone


class BlobStoreServer:
    """An S3 server of the run's own (moto, as a process), and the fault proxy every service reaches it through."""

    def __init__(self, var_dir: Path):
        self.port = free_port()
        self.log_path = var_dir / "s3-server.log"
        self.process: subprocess.Popen | None = None
        self.proxy = FaultProxy("127.0.0.1", self.port, port=free_port())

    def start(self) -> BlobStoreServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.client().create_bucket(Bucket=BUCKET)
                break
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.3)
        self.proxy.start()
        return self

    def client(self):
        """A boto3 client straight to the server (the account reads past the proxy and its outages)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.port}",
            aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=S3_CREDENTIALS["AWS_DEFAULT_REGION"],
        )

    @property
    def env(self) -> dict[str, str]:
        """What every service of the stack is configured with: the store behind the proxy."""
        return {"HEADSHOTS_BLOB_URL": f"s3://{BUCKET}/stack", "AWS_ENDPOINT_URL": self.proxy.url, **S3_CREDENTIALS}

    def store(self) -> S3BlobStore:
        return S3BlobStore(BUCKET, "stack", client=self.client())

    def stop(self) -> None:
        self.proxy.stop()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


class FaultSchedule:
    """When each of SCHEDULE's faults is due: at its time or once its share of the orders is done (completed or
    failed), whichever comes first; then every period while the window lasts. `due` hands out one fault a call."""

    def __init__(self, started: float, window_s: float):
        self.started, self.window_s = started, window_s
        self.next_at: dict[str, float | None] = {name: started + first for name, (first, _, _) in SCHEDULE.items()}
        self.fired: set[str] = set()

    def due(self, now: float, done_fraction: float) -> str | None:
        for name, (_, period, share) in SCHEDULE.items():
            at = self.next_at[name]
            if at is None or not (now >= at or (name not in self.fired and done_fraction >= share)):
                continue
            self.fired.add(name)
            again = now + period if period else None
            self.next_at[name] = again if again is not None and again < self.started + self.window_s else None
            return name
        return None

    def pending_once(self) -> set[str]:
        """The scheduled faults that have not come yet (the run waits for them past the window)."""
        return set(SCHEDULE) - self.fired


class ChaosRun:
    def __init__(
        self,
        orders: int,
        seed: int,
        var_dir: Path,
        timeout_s: float,
        fault_every_s: float = 10.0,
        fault_window_s: float | None = None,
        extra_env: dict[str, str] | None = None,
    ):
        self.rng = random.Random(seed)
        self.seed, self.timeout_s, self.fault_every_s = seed, timeout_s, fault_every_s
        # Faults come while orders are placed and worked on; after the window the system is left to settle.
        self.fault_window_s = fault_window_s if fault_window_s is not None else 60 + 6 * orders
        self.postgres = OwnPostgres() if OwnPostgres.available() else None
        self.blob_server = BlobStoreServer(Path(var_dir) / "s3")
        env = {**CHAOS_ENV, **(extra_env or {}), **self.blob_server.env}
        if self.postgres is not None:
            env["DATABASE_URL"] = self.postgres.url
        self.stack = Stack(var_dir=var_dir, ports=Ports.free(), trainers=2, renderer_replicas=2, extra_env=env)
        deleted = set(self.rng.sample(range(orders), round(orders * 0.2)))
        self.orders = [Order("", delete_at=STAGES[i % len(STAGES)] if i in deleted else None) for i in range(orders)]
        self.chaos = ChaosLog()
        self.done = threading.Event()
        self.started = time.monotonic()
        self.deleted_at: dict[str, float] = {}  # order id -> when its deletion was answered (monotonic)
        self.runs: dict[str, dict[tuple[int, str], Run]] = {}  # order id -> every run its record showed
        self.client: PatientClient | None = None

    # -- the run ---------------------------------------------------------------------------------------------
    def run(self) -> dict:
        with contextlib.ExitStack() as cleanup:
            if self.postgres is not None:
                self.postgres.start()
                cleanup.callback(self.postgres.stop)
            self.blob_server.start()
            cleanup.callback(self.blob_server.stop)
            self.stack.up()
            cleanup.callback(self.stack.down)
            cleanup.callback(self.done.set)
            self.started = time.monotonic()
            api_key = self.stack.manage("partner", "create", "chaos").strip()
            self.client = client = PatientClient(self.stack.gateway_url, api_key)
            threads = [
                threading.Thread(target=self._inject_faults, name="faults", daemon=True),
                threading.Thread(target=self._delete_at_stages, args=(client,), name="deletions", daemon=True),
                threading.Thread(target=self._watch_training_records, name="records", daemon=True),
            ]
            for thread in threads:
                thread.start()
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(lambda order: self._place(client, order), self.orders))
            self._wait_until_final(client)
            self.done.set()
            for thread in threads:
                thread.join(timeout=60)
            time.sleep(12)  # let the sweeps and every replica's deletion listener finish their turn
            return self._account(client)
        raise AssertionError("unreachable")  # for mypy: the with block returns or raises

    def _place(self, client: ApiClient, order: Order) -> None:
        created = client.json(
            "POST", "/v1/orders", 201, body={"package": "trial", "styles": ["corporate-navy", "tech-grey"]}
        )
        order.id = created["id"]
        client.json("POST", f"/v1/orders/{order.id}/photos", 201, files=DEMO_PHOTOS)
        if order.delete_at == "photos uploaded":
            self._delete(client, order, "photos uploaded")
            return
        status, body = client.request("POST", f"/v1/orders/{order.id}/submit")
        waited = 0.0
        while status == 409 and _error_code(body) == "photos_being_checked" and waited < PHOTO_CHECK_PATIENCE_S:
            time.sleep(1.0)  # submit once each photo has its verdict, as the answer says
            waited += 1.0
            status, body = client.request("POST", f"/v1/orders/{order.id}/submit")
        if status == 409 and _error_code(body) == "photos_being_checked":
            order.stuck = f"its photos had no verdict {PHOTO_CHECK_PATIENCE_S:.0f} s after the upload: {body!r}"
            log.error("chaos: order %s is stuck: %s", order.id, order.stuck)
            return
        if status != 202 and not order.deleted_at:
            # A retried submit finds the first one done: the order has moved on.
            state = client.json("GET", f"/v1/orders/{order.id}", 200)["state"]
            if state == "awaiting_photos":
                raise RuntimeError(f"submitting order {order.id} answered {status}: {body!r}")

    def _delete(self, client: ApiClient, order: Order, stage: str) -> None:
        client.json("DELETE", f"/v1/orders/{order.id}", 200)
        self.deleted_at[order.id] = time.monotonic()
        order.deleted_at = stage
        self.chaos.record(f"deleted order {order.id[:8]} ({stage})", self.started)

    def _refresh_states(self, client: ApiClient) -> None:
        """Every order's state from the order listing (100 a page), not one request per order."""
        by_id = {order.id: order for order in self.orders if order.id}
        offset = 0
        while True:
            page = client.json("GET", f"/v1/orders?limit=100&offset={offset}", 200)
            for item in page["results"]:
                order = by_id.get(item["id"])
                if order is not None:
                    order.state, order.failure_reason = item["state"], item["failure_reason"] or ""
                    order.progress_percent = item["progress"]["percent"]
            offset += 100
            if not page["next"]:
                return

    def _delete_at_stages(self, client: ApiClient) -> None:
        while not self.done.is_set():
            self._refresh_states(client)
            for order in self.orders:
                if not order.id or order.delete_at in (None, "photos uploaded") or order.deleted_at or order.stuck:
                    continue
                stage = {"training": "training", "rendering": "rendering", "completed": "completed"}.get(order.state)
                if stage == order.delete_at and (stage != "training" or order.progress_percent > 0):
                    self._delete(client, order, stage)
                elif order.state in ("completed", "failed"):  # it passed its stage before we saw it
                    self._delete(client, order, f"{order.state} (aimed at {order.delete_at})")
            self.done.wait(0.5)

    def _watch_training_records(self) -> None:
        """Every order's training runs, as its job record shows them (read past the fault proxy): the records of
        orders in training, each read once more after its training ended, none after a deletion."""
        jobs = TrainingJobStore(self.blob_server.store())
        over: set[str] = set()  # orders whose record said the training was over
        while True:
            finished = self.done.is_set()
            for order in self.orders:
                if not order.id or order.id in over or order.id in self.deleted_at:
                    continue
                if order.state in ("awaiting_photos", "queued") and order.id not in self.runs:
                    continue  # not started: no record yet
                with contextlib.suppress(Exception):  # deleted meanwhile, or half-written by a purge
                    job = jobs.load(order.id)
                    for run in job.runs if job else ():
                        self.runs.setdefault(order.id, {})[(run.token, run.holder)] = run
                    if job is not None and job.done:
                        over.add(order.id)
            if finished or self.done.wait(RECORD_POLL_S):
                return

    def _inject_faults(self) -> None:
        """A random fault every `fault_every_s` on average during the window, and the scheduled ones (checked
        every second, so that one brought forward by progress meets orders still in flight)."""
        schedule = FaultSchedule(self.started, self.fault_window_s)
        next_random = time.monotonic() + self.rng.uniform(0.5, 1.5) * self.fault_every_s
        while not self.done.wait(1.0):
            now = time.monotonic()
            # Deleted orders do not count: a deletion early in the run is no sign that the work is nearly done.
            done = sum(order.state in ("completed", "failed") for order in self.orders) / max(1, len(self.orders))
            if name := schedule.due(now, done):
                self._scheduled_fault(name)
            elif now > self.started + self.fault_window_s:
                if not schedule.pending_once():
                    return
            elif now >= next_random:
                next_random = now + self.rng.uniform(0.5, 1.5) * self.fault_every_s
                self._random_fault(self.rng.choice(FAULTS))

    def _scheduled_fault(self, name: str) -> None:
        if name == "broker restart":
            self.stack.kill("broker")
            self.chaos.record("killed the broker (it restarts empty)", self.started)
        elif name == "third trainer":
            self.stack.trainers = 3
            self.stack.save_state()  # the supervisor looks after it too
            self.stack.spawn(self.stack.service("trainer-3"))
            self.chaos.record("started a third trainer", self.started)
            return
        elif name == "postgres restart":
            if self.postgres is None:
                return
            self.chaos.record(f"PostgreSQL stopped at once; it starts again in {POSTGRES_DOWN_S:.0f} s", self.started)
            self.postgres.restart(POSTGRES_DOWN_S)
            self.chaos.record("PostgreSQL is back", self.started)
        elif name == "blob store outage":
            self.blob_server.proxy.outage(BLOB_OUTAGE_S)
            self.chaos.record(f"the blob store answers 503 to everything for {BLOB_OUTAGE_S:.0f} s", self.started)
        self.chaos.faults[name] += 1

    def _random_fault(self, fault: str) -> None:
        if fault in ("trainer worker", "trainer paused"):
            name = self.rng.choice([s.name for s in self.stack.services() if s.name.startswith("trainer")])
            if fault == "trainer worker":
                hit = self.stack.kill(name)
            else:
                hit = self.stack.kill(name, signal.SIGSTOP)
                if hit:
                    threading.Timer(PAUSE_S, self.stack.kill, args=(name, signal.SIGCONT)).start()
        elif fault == "renderer replica":
            pids = _replica_pids(self.stack)
            hit = bool(pids)
            if pids:
                os.kill(self.rng.choice(pids), signal.SIGKILL)
        else:
            hit = self.stack.kill("gateway-worker" if fault == "gateway worker" else "renderer-dispatcher")
        if hit:
            self.chaos.faults[fault] += 1
            what = (
                f"paused a trainer worker for {PAUSE_S:.0f} s" if fault == "trainer paused" else f"SIGKILLed a {fault}"
            )
            self.chaos.record(what, self.started)

    def _wait_until_final(self, client: ApiClient) -> None:
        deadline = self.started + self.timeout_s
        last_report = time.monotonic()
        while time.monotonic() < deadline:
            self._refresh_states(client)
            final = sum(self._final(order) for order in self.orders)
            if final == len(self.orders):
                return
            if time.monotonic() - last_report >= PROGRESS_EVERY_S:
                last_report = time.monotonic()
                elapsed = last_report - self.started
                eta = f"about {elapsed / final * (len(self.orders) - final):.0f} s left" if final else "no estimate yet"
                log.info("chaos: %d of %d orders final after %.0f s; %s", final, len(self.orders), elapsed, eta)
            time.sleep(2)
        log.warning("the run's deadline passed with orders still in flight")

    @staticmethod
    def _final(order: Order) -> bool:
        """Deleted, completed or failed and not to be deleted, or given up on."""
        done = order.state in ("completed", "failed") and not order.delete_at
        return bool(order.deleted_at or order.stuck) or done

    # -- the account -----------------------------------------------------------------------------------------
    def _resident_adapters(self) -> tuple[set[str], set[str]]:
        """Every adapter any renderer replica holds, and the replicas that answered (GetStats is routed to one
        replica a call: enough calls reach them all). A replica killed late in the run may still be restarting:
        the account waits for every configured replica, up to REPLICA_RESTART_PATIENCE_S, and otherwise covers
        those that answer (`replicas_seen` says how many)."""
        import grpc

        from headshots.v1 import renderer_service_pb2 as pb, renderer_service_pb2_grpc as pb_grpc

        deadline = time.monotonic() + REPLICA_RESTART_PATIENCE_S
        with grpc.insecure_channel(f"127.0.0.1:{self.stack.ports.renderer_grpc}") as channel:
            stub = pb_grpc.RendererServiceStub(channel)
            while True:
                resident: set[str] = set()
                replicas: set[str] = set()
                for _ in range(40):
                    stats = stub.GetStats(pb.GetStatsRequest(), timeout=10)
                    replicas.add(stats.replica_id)
                    resident.update(stats.adapters_resident)
                if len(replicas) >= self.stack.renderer_replicas or time.monotonic() > deadline:
                    return resident, replicas
                wanted = self.stack.renderer_replicas
                log.info("chaos: %d of %d renderer replicas answer; waiting", len(replicas), wanted)
                time.sleep(3)

    def _receipt(self, client: ApiClient, order: Order, running: set[str]) -> dict:
        """The order's deletion receipt (DELETE answers it again), once no running replica owes it a purge report,
        or as it stands after PURGE_REPORT_PATIENCE_S (a busy replica reads the deletion late)."""
        deadline = time.monotonic() + PURGE_REPORT_PATIENCE_S
        while True:
            receipt = client.json("DELETE", f"/v1/orders/{order.id}", 200)
            if not set(receipt["cache_purges_pending"]) & running or time.monotonic() > deadline:
                return receipt
            time.sleep(2)

    def _account(self, client: ApiClient) -> dict:
        blobs = self.blob_server.store()
        resident, replicas = self._resident_adapters()
        running = {f"renderer/{replica}" for replica in replicas}
        rows: list[dict[str, Any]] = []
        leftovers = purges = missing_purges = owed_by_killed = 0
        for order in self.orders:
            runs = list(self.runs.get(order.id, {}).values())
            if order.deleted_at:
                left = blobs.list(blob_layout.order_prefix(order.id))
                held = [a for a in resident if a == order.id]
                leftovers += len(left) + len(held)
                receipt = self._receipt(client, order, running)
                purges += len(receipt["cache_purges"])
                pending = receipt["cache_purges_pending"]
                missing = [holder for holder in pending if holder in running]
                missing_purges += len(missing)
                owed_by_killed += len(pending) - len(missing)
                rows.append(
                    {
                        "order": order.id,
                        "fate": "deleted",
                        "stage": order.deleted_at,
                        "leftovers": len(left) + len(held),
                        "purges_missing": missing,
                        "runs": len(runs),
                        "trained_twice": trained_twice(runs),
                        "redone_steps": redone_steps(runs),
                    }
                )
            else:
                rows.append(
                    {
                        "order": order.id,
                        "fate": order.state,
                        "reason": order.failure_reason or order.stuck,
                        "runs": len(runs),
                        "trained_twice": trained_twice(runs),
                        "redone_steps": redone_steps(runs),
                    }
                )
        fates = Counter(r["fate"] for r in rows)
        lost = sum(1 for r in rows if r["fate"] not in ("completed", "failed", "deleted"))
        failed_unstated = sum(1 for r in rows if r["fate"] == "failed" and not r.get("reason"))
        seconds = round(time.monotonic() - self.started, 1)
        restarts_file = self.stack.run_dir / "restarts.json"
        return {
            "orders": len(self.orders),
            "completed": fates["completed"],
            "failed": fates["failed"],
            "deleted": fates["deleted"],
            "lost": lost + failed_unstated,
            "trained_twice": sum(r["trained_twice"] for r in rows),
            "redone_steps": sum(r["redone_steps"] for r in rows),
            "takeovers": sum(max(0, r["runs"] - 1) for r in rows),
            "deleted_leftovers": leftovers,
            "cache_purges_reported": purges,
            "missing_purge_reports": missing_purges,
            "purges_owed_by_killed_replicas": owed_by_killed,
            "replicas_seen": len(replicas),
            "client_retries": self.client.retries if self.client else 0,
            "blob_requests_refused": self.blob_server.proxy.refused,
            "database": "PostgreSQL (its own, restarted)" if self.postgres else "not restarted (no initdb)",
            "faults": dict(self.chaos.faults),
            "seconds": seconds,
            "seed": self.seed,
            "restarts": json.loads(restarts_file.read_text()) if restarts_file.exists() else {},
            "deleted_by_stage": dict(Counter(r["stage"].split(" (")[0] for r in rows if r["fate"] == "deleted")),
            "failure_reasons": dict(Counter(r["reason"] for r in rows if r["fate"] == "failed")),
            "lost_reasons": [r["reason"] for r in rows if r["fate"] not in ("completed", "failed", "deleted")],
            "events": self.chaos.events,
            "orders_detail": rows,
        }


def figures(report: dict) -> dict:
    """The run's figures as bench/run.py merges them into docs/benchmarks.json."""
    note = (
        f"{report['orders']} orders, seed {report['seed']}, {report['seconds']} s; faults {report['faults']}; "
        f"deleted by stage {report['deleted_by_stage']}; {report['client_retries']} client requests retried"
    )
    return {
        "chaos.orders": {"value": report["orders"], "unit": "orders", "note": note},
        "chaos.lost": {
            "value": report["lost"],
            "unit": "orders",
            "note": "neither completed, failed with a stated reason, nor deleted; bar 0",
        },
        "chaos.trained_twice": {
            "value": report["trained_twice"],
            "unit": "orders",
            "note": "a run started from an earlier step than the checkpoint its job record named, or the record "
            "started over (one lease token, two workers); resuming from the last checkpoint is not twice; bar 0",
        },
        "chaos.takeovers": {
            "value": report["takeovers"],
            "unit": "runs",
            "note": "training runs after an order's first (a kill, a pause, a stall or a lost lease)",
        },
        "chaos.redone_steps": {
            "value": report["redone_steps"],
            "unit": "steps",
            "note": "steps trained again after takeovers, from the recorded steps (a lower bound); each resume "
            "redoes fewer than the checkpoint interval",
        },
        "chaos.deleted_leftovers": {
            "value": report["deleted_leftovers"],
            "unit": "items",
            "note": "blobs and replica-held adapters of deleted orders at the end; bar 0",
        },
        "chaos.missing_purge_reports": {
            "value": report["missing_purge_reports"],
            "unit": "reports",
            "note": "renderer replicas running at an order's deletion and at the end that had not reported purging "
            f"it after up to 60 s; bar 0 ({report['purges_owed_by_killed_replicas']} owed by replicas killed in "
            "between)",
        },
        "chaos.completed": {"value": report["completed"], "unit": "orders"},
        "chaos.failed": {"value": report["failed"], "unit": "orders", "note": f"reasons: {report['failure_reasons']}"},
    }


def passed(report: dict) -> bool:
    """Every bar met: nothing lost, nothing trained twice, nothing of a deleted order left or unreported."""
    bars = ("lost", "trained_twice", "deleted_leftovers", "missing_purge_reports")
    return all(report[name] == 0 for name in bars)


def print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"chaos run: {report['orders']} orders in {report['seconds']} s (seed {report['seed']})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name in (
        "completed",
        "failed",
        "deleted",
        "lost",
        "trained_twice",
        "takeovers",
        "redone_steps",
        "deleted_leftovers",
        "cache_purges_reported",
        "missing_purge_reports",
        "purges_owed_by_killed_replicas",
        "replicas_seen",
        "client_retries",
        "blob_requests_refused",
        "database",
    ):
        table.add_row(name, str(report[name]))
    table.add_row("faults", ", ".join(f"{k}: {v}" for k, v in report["faults"].items()))
    table.add_row("restarts", ", ".join(f"{k}: {v}" for k, v in report["restarts"].items()))
    table.add_row("deleted by stage", ", ".join(f"{k}: {v}" for k, v in report["deleted_by_stage"].items()))
    table.add_row("failure reasons", ", ".join(f"{k}: {v}" for k, v in report["failure_reasons"].items()))
    Console(stderr=True).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=int(os.environ.get("HEADSHOTS_CHAOS_ORDERS", "40")))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=None, help="seconds before the run gives up")
    parser.add_argument("--fault-every", type=float, default=10.0, help="mean seconds between faults")
    parser.add_argument(
        "--fault-window",
        type=float,
        default=None,
        help="seconds from the start during which faults come (default 60 + 6 per order)",
    )
    parser.add_argument("--out", help="write the figures (bench/run.py format) to this file")
    parser.add_argument("--report", help="write the whole account (every order) to this file")
    parser.add_argument("--quick", action="store_true", help="(bench/run.py) no effect: a chaos run is its length")
    parser.add_argument("--var-dir", help="keep the stack's logs and files in this (new) folder, not a temporary one")
    args = parser.parse_args(argv)
    if not 1 <= args.orders <= MAX_ORDERS:
        parser.error(f"--orders must be between 1 and {MAX_ORDERS}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the stack on the way out, as on Ctrl-C
    with contextlib.ExitStack() as folders:
        var_dir = args.var_dir or folders.enter_context(tempfile.TemporaryDirectory(prefix="headshots-chaos-"))
        run = ChaosRun(
            args.orders,
            seed,
            Path(var_dir),
            args.timeout or 300 + 20 * args.orders,
            args.fault_every,
            args.fault_window,
        )
        report = run.run()
    print_report(report)
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=1))
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {
                    **figures(report),
                    "_config": {
                        "trainers": "2, a third joins",
                        "renderer_replicas": 2,
                        "blob_store": "S3 (moto) behind a fault proxy",
                        "database": report["database"],
                        "schedule": SCHEDULE,
                        "env": CHAOS_ENV,
                    },
                },
                indent=1,
            )
        )
    return 0 if passed(report) else 1


if __name__ == "__main__":
    sys.exit(main())

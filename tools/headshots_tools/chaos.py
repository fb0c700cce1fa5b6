"""A chaos run: the local stack shaped like a cluster, many orders, and faults at random; then an account of it.

`make chaos` (or `python -m headshots_tools.chaos --orders N --out FILE`):

- a local stack on free loopback ports with 2 trainer workers, 2 renderer replicas and the supervisor that
  restarts what dies (as Kubernetes would);
- N orders (default 40, at most 1,000) placed, photographed and submitted through the REST API;
- meanwhile, at random: a trainer worker, a renderer replica, the gateway's worker (outbox relay and event
  consumer) or the render dispatcher is SIGKILLed; the broker is restarted once (it keeps nothing across a
  restart); a third trainer joins mid-run; about 20% of the orders are deleted, each at a chosen stage
  (photos uploaded, training, rendering, completed);
- at the end: every order's fate, orders trained twice (more than one adapter), and what of a deleted order
  is left anywhere (blobs, the adapters any replica holds); printed as a table and returned as figures.

Bounded: the run gives up after its deadline and stops the stack whatever happens.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headshots_common import blob_layout
from headshots_common.adapter_format import ADAPTER_FILE_NAME
from headshots_common.blobstore import open_blob_store
from headshots_tools.demo import DEMO_PHOTOS, ApiClient
from headshots_tools.localstack import Ports, Stack, _session_members

log = logging.getLogger("chaos")

STAGES = ("photos uploaded", "training", "rendering", "completed")
FAULTS = ("trainer worker", "renderer replica", "gateway worker", "render dispatcher")
MAX_ORDERS = 1000

# Small and quick jobs: the run is about faults, not image quality.
CHAOS_ENV = {
    "HEADSHOTS_TRAIN_STEPS": "16",
    "HEADSHOTS_TRAIN_CHECKPOINT_EVERY": "4",
    "HEADSHOTS_TRAIN_PROBE_IMAGES": "1",
    "HEADSHOTS_TRAIN_PROBE_STEPS": "2",
    "HEADSHOTS_RENDER_STEPS": "4",
    "HEADSHOTS_TRAINER_LEASE_S": "6",
    "HEADSHOTS_STALL_S": "20",
    "HEADSHOTS_RETENTION_SWEEP_S": "5",
    "HEADSHOTS_RENDER_DELETION_SWEEP_S": "5",
    "HEADSHOTS_RATE_LIMIT": "100000/min",
    "HEADSHOTS_ORDER_RATE_LIMIT": "100000/min",
}


@dataclass
class Order:
    id: str
    delete_at: str | None = None  # the stage at which it is deleted, or None
    deleted_at: str | None = None  # the stage it was in when it was deleted
    state: str = "awaiting_photos"
    failure_reason: str = ""


@dataclass
class ChaosLog:
    faults: Counter = field(default_factory=Counter)
    events: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, what: str, started: float) -> None:
        with self.lock:
            self.events.append((round(time.monotonic() - started, 1), what))
        log.info("chaos: %s", what)


def _replica_pids(stack: Stack) -> list[int]:
    """The Ray worker processes that host the renderer's Serve replicas."""
    pidfile = stack.run_dir / "renderer.pid"
    if not pidfile.exists():
        return []
    pids = []
    for pid in _session_members(int(pidfile.read_text())):
        try:
            cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "ServeReplica" in cmdline and "Renderer" in cmdline:
            pids.append(pid)
    return pids


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
        self.stack = Stack(
            var_dir=var_dir,
            ports=Ports.free(),
            trainers=2,
            renderer_replicas=2,
            extra_env={**CHAOS_ENV, **(extra_env or {})},
        )
        deleted = set(self.rng.sample(range(orders), round(orders * 0.2)))
        self.orders = [Order("", delete_at=STAGES[i % len(STAGES)] if i in deleted else None) for i in range(orders)]
        self.chaos = ChaosLog()
        self.done = threading.Event()
        self.started = time.monotonic()

    # -- the run ---------------------------------------------------------------------------------------------
    def run(self) -> dict:
        self.stack.up()
        try:
            self.started = time.monotonic()
            client = ApiClient(self.stack.gateway_url, self.stack.manage("partner", "create", "chaos").strip())
            faults = threading.Thread(target=self._inject_faults, name="faults", daemon=True)
            deleter = threading.Thread(target=self._delete_at_stages, args=(client,), name="deletions", daemon=True)
            faults.start()
            deleter.start()
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(lambda order: self._place(client, order), self.orders))
            self._wait_until_final(client)
            self.done.set()
            faults.join(timeout=30)
            deleter.join(timeout=30)
            time.sleep(12)  # let the sweeps and every replica's deletion listener finish their turn
            return self._account(client)
        finally:
            self.done.set()
            self.stack.down()

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
        if status != 202 and not order.deleted_at:
            raise RuntimeError(f"submitting order {order.id} answered {status}: {body!r}")

    def _delete(self, client: ApiClient, order: Order, stage: str) -> None:
        client.json("DELETE", f"/v1/orders/{order.id}", 200)
        order.deleted_at = stage
        self.chaos.record(f"deleted order {order.id[:8]} ({stage})", self.started)

    def _delete_at_stages(self, client: ApiClient) -> None:
        while not self.done.is_set():
            for order in self.orders:
                if not order.id or order.delete_at in (None, "photos uploaded") or order.deleted_at:
                    continue
                state = client.json("GET", f"/v1/orders/{order.id}", 200)
                stage = {"training": "training", "rendering": "rendering", "completed": "completed"}.get(state["state"])
                if stage == order.delete_at and (stage != "training" or state["progress"]["percent"] > 0):
                    self._delete(client, order, stage)
                elif state["state"] in ("completed", "failed"):  # it passed its stage before we saw it
                    self._delete(client, order, f"{state['state']} (aimed at {order.delete_at})")
            self.done.wait(0.3)

    def _inject_faults(self) -> None:
        """A fault every `fault_every_s` on average during the window; the broker restart and the third trainer
        once each, early in the run."""
        broker_restart_at, third_trainer_at = self.started + 25, self.started + 40
        while not self.done.wait(self.rng.uniform(0.5, 1.5) * self.fault_every_s):
            now = time.monotonic()
            if now > self.started + self.fault_window_s and not (broker_restart_at or third_trainer_at):
                return
            if broker_restart_at and now >= broker_restart_at:
                broker_restart_at = 0
                self.stack.kill("broker")
                self.chaos.faults["broker restart"] += 1
                self.chaos.record("killed the broker (it restarts empty)", self.started)
                continue
            if third_trainer_at and now >= third_trainer_at:
                third_trainer_at = 0
                self.stack.trainers = 3
                self.stack.save_state()  # the supervisor looks after it too
                self.stack.spawn(self.stack.service("trainer-3"))
                self.chaos.record("started a third trainer", self.started)
                continue
            fault = self.rng.choice(FAULTS)
            if fault == "trainer worker":
                name = self.rng.choice([s.name for s in self.stack.services() if s.name.startswith("trainer")])
                hit = self.stack.kill(name)
            elif fault == "renderer replica":
                pids = _replica_pids(self.stack)
                hit = bool(pids)
                if pids:
                    os.kill(self.rng.choice(pids), signal.SIGKILL)
            else:
                hit = self.stack.kill("gateway-worker" if fault == "gateway worker" else "renderer-dispatcher")
            if hit:
                self.chaos.faults[fault] += 1
                self.chaos.record(f"SIGKILLed a {fault}", self.started)

    def _wait_until_final(self, client: ApiClient) -> None:
        deadline = self.started + self.timeout_s
        while time.monotonic() < deadline:
            pending = 0
            for order in self.orders:
                if order.id and not order.deleted_at:
                    body = client.json("GET", f"/v1/orders/{order.id}", 200)
                    order.state, order.failure_reason = body["state"], body["failure_reason"]
                    pending += order.state not in ("completed", "failed", "deleted")
                    if order.delete_at and order.state not in ("completed", "failed"):
                        pending += 1  # its deletion is still to come
            if not pending:
                return
            time.sleep(2)
        log.warning("the run's deadline passed with orders still in flight")

    # -- the account -----------------------------------------------------------------------------------------
    def _resident_adapters(self) -> tuple[set[str], set[str]]:
        """Every adapter any renderer replica holds, and the replicas that answered (GetStats is routed to one
        replica a call: enough calls reach them all)."""
        import grpc

        from headshots.v1 import renderer_service_pb2 as pb, renderer_service_pb2_grpc as pb_grpc

        resident: set[str] = set()
        replicas: set[str] = set()
        with grpc.insecure_channel(f"127.0.0.1:{self.stack.ports.renderer_grpc}") as channel:
            stub = pb_grpc.RendererServiceStub(channel)
            for _ in range(40):
                stats = stub.GetStats(pb.GetStatsRequest(), timeout=10)
                replicas.add(stats.replica_id)
                resident.update(stats.adapters_resident)
        return resident, replicas

    def _account(self, client: ApiClient) -> dict:
        blobs = open_blob_store(self.stack.env["HEADSHOTS_BLOB_URL"])
        resident, replicas = self._resident_adapters()
        rows: list[dict[str, Any]] = []
        trained_twice = leftovers = purges = 0
        for order in self.orders:
            adapters = [k for k in blobs.list(blob_layout.adapter_prefix(order.id)) if k.endswith(ADAPTER_FILE_NAME)]
            trained_twice += len(adapters) > 1
            if order.deleted_at:
                left = blobs.list(blob_layout.order_prefix(order.id))
                held = [a for a in resident if a == order.id]
                leftovers += len(left) + len(held)
                receipt = client.json("DELETE", f"/v1/orders/{order.id}", 200)  # answers the receipt again
                purges += len(receipt["cache_purges"])
                rows.append(
                    {
                        "order": order.id,
                        "fate": "deleted",
                        "stage": order.deleted_at,
                        "leftovers": len(left) + len(held),
                    }
                )
            else:
                rows.append(
                    {"order": order.id, "fate": order.state, "reason": order.failure_reason, "adapters": len(adapters)}
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
            "trained_twice": trained_twice,
            "deleted_leftovers": leftovers,
            "cache_purges_reported": purges,
            "replicas_seen": len(replicas),
            "faults": dict(self.chaos.faults),
            "seconds": seconds,
            "seed": self.seed,
            "restarts": json.loads(restarts_file.read_text()) if restarts_file.exists() else {},
            "deleted_by_stage": dict(Counter(r["stage"].split(" (")[0] for r in rows if r["fate"] == "deleted")),
            "failure_reasons": dict(Counter(r["reason"] for r in rows if r["fate"] == "failed")),
            "events": self.chaos.events,
            "orders_detail": rows,
        }


def figures(report: dict) -> dict:
    """The run's figures as bench/run.py merges them into docs/benchmarks.json."""
    note = (
        f"{report['orders']} orders, seed {report['seed']}, {report['seconds']} s; faults {report['faults']}; "
        f"deleted by stage {report['deleted_by_stage']}"
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
            "note": "orders with more than one adapter stored; bar 0",
        },
        "chaos.deleted_leftovers": {
            "value": report["deleted_leftovers"],
            "unit": "items",
            "note": "blobs and replica-held adapters of deleted orders at the end; bar 0",
        },
        "chaos.completed": {"value": report["completed"], "unit": "orders"},
        "chaos.failed": {"value": report["failed"], "unit": "orders", "note": f"reasons: {report['failure_reasons']}"},
    }


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
        "deleted_leftovers",
        "cache_purges_reported",
        "replicas_seen",
    ):
        table.add_row(name, str(report[name]))
    table.add_row("faults", ", ".join(f"{k}: {v}" for k, v in report["faults"].items()))
    table.add_row("restarts", ", ".join(f"{k}: {v}" for k, v in report["restarts"].items()))
    table.add_row("deleted by stage", ", ".join(f"{k}: {v}" for k, v in report["deleted_by_stage"].items()))
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
    args = parser.parse_args(argv)
    if not 1 <= args.orders <= MAX_ORDERS:
        parser.error(f"--orders must be between 1 and {MAX_ORDERS}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the stack on the way out, as on Ctrl-C
    with tempfile.TemporaryDirectory(prefix="headshots-chaos-") as var_dir:
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
                    "_config": {"trainers": "2, a third joins", "renderer_replicas": 2, "env": CHAOS_ENV},
                },
                indent=1,
            )
        )
    ok = report["lost"] == report["trained_twice"] == report["deleted_leftovers"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

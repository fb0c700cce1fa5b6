"""Gateway throughput and latency: order status reads and order creation, each against a plain authenticated DRF
view reading one order row from the same database (bench/gateway/plain_drf: DRF's token authentication against the
gateway's API key model, no throttling), served by the same gunicorn in the same run.

The baseline's URL exists only in this benchmark's server (DJANGO_SETTINGS_MODULE=plain_drf.settings, this folder
on gunicorn's path), never in the gateway's own URLs. The load comes from Locust, closed loop, in a process of its
own (bench/load/locustfile.py, `Hammer`).

    python bench/gateway/bench_gateway.py --out FILE [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GATEWAY = HERE.parents[1] / "services" / "gateway"
sys.path.insert(0, str(HERE.parent / "load"))

from locust_run import Record, RouteStats, run_locust, summarise  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_reachable(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.2).close()
        return True
    except OSError:
        return False


def measure(cache_url: str, workers: int, clients: int, seconds: float, rounds: int) -> dict[str, RouteStats]:
    """Start gunicorn with this cache configuration and load the scenarios in turn, `rounds` times over (the
    machine is shared: interleaving spreads other work over every scenario alike), `seconds` each in all."""
    var_dir = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    env = dict(
        os.environ,
        HEADSHOTS_VAR_DIR=str(var_dir),
        HEADSHOTS_RATE_LIMIT="100000000/min",
        HEADSHOTS_ORDER_RATE_LIMIT="100000000/min",
        HEADSHOTS_CACHE_URL=cache_url,
        # The gateway's settings plus the baseline's URL (plain_drf), for this server only.
        DJANGO_SETTINGS_MODULE="plain_drf.settings",
        PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH", "")])),
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput"], cwd=GATEWAY, env=env, check=True, capture_output=True)
    key = subprocess.run(
        [*manage, "partner", "create", "bench"], cwd=GATEWAY, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    port = free_port()
    # Its access log would drown the figures; the child keeps its own copy of the file.
    with open(var_dir / "gunicorn.log", "wb") as server_log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "gateway.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--log-level",
                "warning",
            ],
            cwd=GATEWAY,
            env=env,
            stdout=server_log,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        body = json.dumps({"package": "basic", "styles": ["corporate-navy", "tech-grey"]})
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("POST", "/v1/orders", body=body, headers=auth)
        order_id = json.loads(conn.getresponse().read())["id"]
        conn.close()
        scenarios = {
            "plain_drf": ("GET", f"/bench/plain-orders/{order_id}", auth, None),
            "status_reads": ("GET", f"/v1/orders/{order_id}", auth, None),
            "order_creates": ("POST", "/v1/orders", auth, body),
        }
        host = f"http://127.0.0.1:{port}"
        records: dict[str, list[Record]] = {name: [] for name in scenarios}
        spans = dict.fromkeys(scenarios, 0.0)
        for n in range(rounds):
            for name, (method, path, headers, payload) in scenarios.items():
                spec = {"method": method, "path": path, "name": name, "headers": headers, "body": payload}
                # One extra second: the first spawns the users and warms the workers, and is left out.
                got, _ = run_locust(
                    host,
                    ["Hammer"],
                    clients,
                    max(seconds / rounds, 4) + 1,
                    var_dir / f"{name}-{n}",
                    {"HEADSHOTS_LOAD_REQUEST": json.dumps(spec)},
                )
                # Locust's first second spawns the users (at most a quarter of a slow round's span is left out).
                first, end = min(r[1] for r in got), max(r[1] for r in got)
                start = first + min(1.0, (end - first) / 4)
                records[name] += [r for r in got if start <= r[1] < end]
                spans[name] += end - start
        measured = {}
        for name, (method, path, *_) in scenarios.items():
            if not records[name]:
                raise RuntimeError(f"{method} {path}: no request completed within the rounds")
            stats = summarise(records[name])["all"]
            if stats.errors:
                statuses = sorted({r[3] for r in records[name] if not 200 <= r[3] < 400})
                raise RuntimeError(f"{method} {path}: {stats.errors} error responses, statuses {statuses}")
            stats.rps = stats.count / spans[name]
            measured[name] = stats
        return measured
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="each scenario's seconds, split into interleaved rounds")
    parser.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/15",
        help="shared cache as in the cluster; measured when a Redis answers there",
    )
    args = parser.parse_args()
    seconds, rounds = (2.0, 1) if args.quick else (args.seconds, args.rounds)

    # Production runs the gateway with a shared Redis cache; a laptop without one uses per-process memory.
    shared = redis_reachable()
    cache_url = args.redis if shared else "locmem://"
    measured = measure(cache_url, args.workers, args.clients, seconds, rounds)
    local = measure("locmem://", args.workers, args.clients, seconds, rounds) if shared else measured

    baseline = "a plain authenticated DRF view reading one order row (DRF token auth on the same API key model)"
    result = {}
    for name, stats in measured.items():
        result[f"gateway.{name}_rps"] = {"value": round(stats.rps, 1), "unit": "req/s"}
        result[f"gateway.{name}_p50_ms"] = {"value": round(stats.p50_ms, 2), "unit": "ms"}
        result[f"gateway.{name}_p99_ms"] = {"value": round(stats.p99_ms, 2), "unit": "ms"}
    for name in ("status_reads", "order_creates"):
        result[f"gateway.{name}_over_plain_drf"] = {
            "value": round(measured[name].rps / measured["plain_drf"].rps, 3),
            "unit": "ratio",
            "note": f"throughput over {baseline} on the same server, same run; cache {cache_url}",
        }
    result["gateway.status_reads_over_plain_drf_local_cache"] = {
        "value": round(local["status_reads"].rps / local["plain_drf"].rps, 3),
        "unit": "ratio",
        "note": "the same with per-process memory instead of a shared cache (no shared key cache: a laptop's setup)",
    }
    result["_config"] = {
        "server": f"gunicorn, {args.workers} sync workers",
        "clients": args.clients,
        "seconds_per_scenario": seconds,
        "rounds": rounds,
        "cache": cache_url,
        "database": os.environ.get("DATABASE_URL", "sqlite (default)"),
        "baseline": "bench/gateway/plain_drf (served by this benchmark's gunicorn only)",
        "client": f"Locust, {args.clients} closed-loop users in a process of its own, on the same machine "
        f"({os.cpu_count()} CPUs shared with it)",
    }
    Path(args.out).write_text(json.dumps(result, indent=2))
    for key_name, fig in result.items():
        if not key_name.startswith("_"):
            print(f"{key_name:48} {fig['value']:>10} {fig['unit']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Gateway throughput and latency: order status reads and order creation, each against a bare Django
JSON view (/healthz) served by the same gunicorn in the same run — the ceiling of the stack.

    python bench/gateway/bench_gateway.py --out FILE [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

GATEWAY = Path(__file__).resolve().parents[2] / "services" / "gateway"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load(port: int, method: str, path: str, headers: dict, body: bytes | None, seconds: float, clients: int):
    """`clients` threads send requests back to back for `seconds`; returns (requests/s, latencies in ms)."""
    latencies: list[float] = []
    errors = []
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def client():
        mine = []
        while time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            started = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            conn.close()
            if response.status >= 400:
                errors.append(response.status)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    if errors:
        raise RuntimeError(f"{method} {path}: {len(errors)} error responses, e.g. {errors[:3]}")
    return len(latencies) / elapsed, latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def redis_reachable(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.2).close()
        return True
    except OSError:
        return False


def measure(cache_url: str, workers: int, clients: int, seconds: float) -> dict:
    """Start gunicorn with this cache configuration and load each scenario in turn."""
    var_dir = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    env = dict(
        os.environ,
        HEADSHOTS_VAR_DIR=str(var_dir),
        HEADSHOTS_RATE_LIMIT="100000000/min",
        HEADSHOTS_ORDER_RATE_LIMIT="100000000/min",
        HEADSHOTS_CACHE_URL=cache_url,
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput"], cwd=GATEWAY, env=env, check=True, capture_output=True)
    key = subprocess.run(
        [*manage, "partner", "create", "bench"], cwd=GATEWAY, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    port = free_port()
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
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        body = json.dumps({"package": "basic", "styles": ["corporate-navy", "tech-grey"]}).encode()
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("POST", "/v1/orders", body=body, headers=auth)
        order_id = json.loads(conn.getresponse().read())["id"]
        conn.close()
        scenarios = {
            "bare": ("GET", "/healthz", {}, None),
            "status_reads": ("GET", f"/v1/orders/{order_id}", auth, None),
            "order_creates": ("POST", "/v1/orders", auth, body),
        }
        for method, path, headers, payload in scenarios.values():  # warm every worker
            load(port, method, path, headers, payload, 0.5, clients)
        return {name: load(port, *spec, seconds, clients) for name, spec in scenarios.items()}
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
    parser.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/15",
        help="shared cache as in the cluster; measured when a Redis answers there",
    )
    args = parser.parse_args()
    seconds = 2.0 if args.quick else args.seconds

    # Production runs the gateway with a shared Redis cache; a laptop without one uses per-process memory.
    shared = redis_reachable()
    cache_url = args.redis if shared else "locmem://"
    measured = measure(cache_url, args.workers, args.clients, seconds)
    local = measure("locmem://", args.workers, args.clients, seconds) if shared else measured

    bare_rps = measured["bare"][0]
    result = {}
    for name, (rps, latencies) in measured.items():
        result[f"gateway.{name}_rps"] = {"value": round(rps, 1), "unit": "req/s"}
        result[f"gateway.{name}_p50_ms"] = {"value": round(percentile(latencies, 50), 2), "unit": "ms"}
        result[f"gateway.{name}_p99_ms"] = {"value": round(percentile(latencies, 99), 2), "unit": "ms"}
    for name in ("status_reads", "order_creates"):
        result[f"gateway.{name}_over_bare"] = {
            "value": round(measured[name][0] / bare_rps, 3),
            "unit": "ratio",
            "note": f"throughput over the bare Django JSON view on the same server, same run; cache {cache_url}",
        }
    result["gateway.status_reads_over_bare_local_cache"] = {
        "value": round(local["status_reads"][0] / local["bare"][0], 3),
        "unit": "ratio",
        "note": "the same with per-process memory instead of a shared cache (no status cache: a laptop's setup)",
    }
    result["_config"] = {
        "server": f"gunicorn, {args.workers} sync workers",
        "clients": args.clients,
        "seconds_per_scenario": seconds,
        "cache": cache_url,
        "database": os.environ.get("DATABASE_URL", "sqlite (default)"),
        "client": "Python threads, one connection per request, on the same machine",
    }
    Path(args.out).write_text(json.dumps(result, indent=2))
    for key_name, fig in result.items():
        if not key_name.startswith("_"):
            print(f"{key_name:44} {fig['value']:>10} {fig['unit']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A partner's first orders with a test key, through the client package against the gateway as it runs (gunicorn,
the worker with its test-mode pipeline, a photo checker, the upload receiver, the broker): how long from creating
an order to its placeholder headshots downloaded, and from submitting to completed.

    python bench/gateway/bench_test_mode.py --out FILE [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from headshots_client import GrpcClient, RestClient
from headshots_common import bus
from headshots_tools.demo import DEMO_PHOTOS
from headshots_tools.live_gateway import live_gateway
from headshots_tools.localstack import broker_command
from headshots_tools.ports import free_port


def one_order(client, out: Path) -> dict[str, float]:
    started = time.monotonic()
    order = client.create_order("trial", ["corporate-navy", "tech-grey"])
    uploaded = client.upload_photos(order.id, DEMO_PHOTOS)
    assert uploaded.accepted == len(DEMO_PHOTOS), uploaded
    uploaded_at = time.monotonic()
    client.submit_order(order.id)
    final = client.wait_for_order(order.id, timeout_s=120)
    completed_at = time.monotonic()
    assert final.state == "completed", final
    files = client.download_headshots(order.id, out / order.id)
    assert len(files) == final.headshots_ready
    done = time.monotonic()
    client.delete_order(order.id)
    return {
        "upload_s": uploaded_at - started,
        "submit_to_completed_s": completed_at - uploaded_at,
        "order_s": done - started,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    orders = 2 if args.quick else 5
    var = Path(tempfile.mkdtemp(prefix="bench-test-mode-"))
    port = free_port()
    broker = subprocess.Popen(broker_command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        bootstrap = f"127.0.0.1:{port}"
        bus.wait_for_broker(bootstrap)
        bus.ensure_topics(bootstrap)
        with live_gateway(var, "sqlite", {"HEADSHOTS_KAFKA_BOOTSTRAP": bootstrap}) as gateway:
            key = gateway.manage("partner", "create", "bench-sandbox", "--test").strip()
            gateway.start_worker()
            gateway.start_checker()
            gateway.start_uploads()
            runs: dict[str, list[dict[str, float]]] = {"rest": [], "grpc": []}
            with RestClient(key, gateway.http) as rest, GrpcClient(key, gateway.grpc) as grpc:
                for _ in range(orders):
                    runs["rest"].append(one_order(rest, var / "rest"))
                    runs["grpc"].append(one_order(grpc, var / "grpc"))
    finally:
        broker.terminate()
        broker.wait(timeout=10)
    setup = f"{len(DEMO_PHOTOS)} selfies, trial package (4 headshots over 2 styles), {orders} orders per protocol"
    result: dict = {}
    for protocol, measured in runs.items():
        for figure, note in (
            ("order_s", "create, upload, submit, wait, download every headshot: p50"),
            ("submit_to_completed_s", "submitted to completed (the placeholder pipeline): p50"),
            ("upload_s", "create and upload, until every photo has its verdict (the photo checker): p50"),
        ):
            result[f"test_mode.{protocol}.{figure}"] = {
                "value": round(statistics.median(m[figure] for m in measured), 2),
                "unit": "s",
                "note": f"{note}; {setup}",
            }
    result["_config"] = {"orders_per_protocol": orders, "photos": len(DEMO_PHOTOS), "quick": args.quick}
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v["value"] for k, v in result.items() if not k.startswith("_")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

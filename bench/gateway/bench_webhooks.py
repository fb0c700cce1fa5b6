"""Webhook fan-out with a slow peer: 20 healthy partner endpoints and one that answers in 5 s, whose backlog
of deliveries was queued first. How long the healthy partners wait for their webhooks, with the worker's
shipped sender pool (a cap per destination) and with the strongest alternative, the same pool without the
cap (every sender free to take the next due delivery, wherever it goes).

    python bench/gateway/bench_webhooks.py --out FILE [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VAR = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
os.environ.update(
    DJANGO_SETTINGS_MODULE="gateway.settings",
    DATABASE_URL=f"sqlite:///{VAR / 'gateway.sqlite3'}",
    HEADSHOTS_VAR_DIR=str(VAR),
    HEADSHOTS_BLOB_URL=f"file://{VAR / 'blobs'}",
    HEADSHOTS_WEBHOOK_ALLOW_NETWORKS="127.0.0.0/8",
    HEADSHOTS_WEBHOOK_TIMEOUT_S="10",  # the slow peer answers, slowly: its deliveries succeed
)
sys.path.insert(0, str(REPO / "services" / "gateway"))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from accounts.services import create_tenant_with_key  # noqa: E402
from gateway.config import CONFIG  # noqa: E402
from headshots_tools.webhook_endpoint import WebhookEndpoint  # noqa: E402
from orders.models import Order  # noqa: E402
from webhooks import services as webhooks  # noqa: E402
from webhooks.delivery import DeliveryPool  # noqa: E402
from webhooks.models import WebhookDelivery  # noqa: E402
from workers.loops import run_webhooks  # noqa: E402

SLOW_DELAY_S = 5.0
HEALTHY_ENDPOINTS = 20


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def run(per_destination: int, slow_backlog: int, per_healthy: int) -> dict:
    """Queue the slow peer's backlog, then the healthy partners' webhooks; deliver until all healthy arrived."""
    WebhookDelivery.objects.all().delete()
    slow = WebhookEndpoint(delay_s=SLOW_DELAY_S)
    healthy = [WebhookEndpoint() for _ in range(HEALTHY_ENDPOINTS)]
    try:
        slow_order = _order("slow-peer", slow.url)
        for _ in range(slow_backlog):
            webhooks.enqueue(slow_order, "order.progress", {"percent": 1})
        enqueued_at = time.monotonic()
        for i, endpoint in enumerate(healthy):
            order = _order(f"partner-{i}", endpoint.url)
            for _ in range(per_healthy):
                webhooks.enqueue(order, "order.progress", {"percent": 1})
        stop = threading.Event()
        # The worker's own webhook loop, with a pool of the shipped size and the cap under test.
        loop = threading.Thread(
            target=run_webhooks, args=(stop,), kwargs={"pool": DeliveryPool(per_destination=per_destination)}
        )
        loop.start()
        deadline = time.monotonic() + 120
        while sum(len(e.requests) for e in healthy) < HEALTHY_ENDPOINTS * per_healthy:
            if time.monotonic() > deadline:
                raise RuntimeError("healthy webhooks still undelivered after 120 s")
            time.sleep(0.05)
        waits = [r.at - enqueued_at for e in healthy for r in e.requests]
        slow_seen = len(slow.requests)
        stop.set()
        loop.join()
    finally:
        for endpoint in (slow, *healthy):
            endpoint.close()
    return {"p50": percentile(waits, 50), "p95": percentile(waits, 95), "max": max(waits), "slow_seen": slow_seen}


def _order(name: str, url: str) -> Order:
    tenant, _ = create_tenant_with_key(name)
    return Order.objects.create(tenant=tenant, package="trial", style_ids=["tech-grey"], webhook_url=url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    per_healthy = 2 if args.quick else 5
    slow_backlog = 2 * CONFIG.webhook_senders  # more than every sender: a pool without the cap fills with it
    shipped = run(CONFIG.webhook_per_destination, slow_backlog, per_healthy)
    uncapped = run(CONFIG.webhook_senders, slow_backlog, per_healthy)
    setup = (
        f"{HEALTHY_ENDPOINTS} healthy endpoints x {per_healthy} webhooks, queued after {slow_backlog} to one "
        f"endpoint answering in {SLOW_DELAY_S:.0f} s; {CONFIG.webhook_senders} senders"
    )
    result = {
        "webhooks.healthy_p95_s_with_slow_peer": {
            "value": round(shipped["p95"], 3),
            "unit": "s",
            "note": f"enqueue to arrival, p95; cap {CONFIG.webhook_per_destination} per destination; {setup}; bar < 1",
        },
        "webhooks.healthy_p50_s_with_slow_peer": {"value": round(shipped["p50"], 3), "unit": "s", "note": setup},
        "webhooks.healthy_p95_s_without_cap": {
            "value": round(uncapped["p95"], 3),
            "unit": "s",
            "note": f"the same pool without a cap per destination (the alternative); {setup}",
        },
        "webhooks.uncapped_over_capped_p95": {
            "value": round(uncapped["p95"] / shipped["p95"], 1),
            "unit": "x",
            "note": "how much longer healthy partners wait without the cap",
        },
        "_config": {
            "senders": CONFIG.webhook_senders,
            "per_destination": CONFIG.webhook_per_destination,
            "slow_delay_s": SLOW_DELAY_S,
            "slow_backlog": slow_backlog,
            "healthy_endpoints": HEALTHY_ENDPOINTS,
            "webhooks_per_healthy_endpoint": per_healthy,
            "database": "sqlite",
            "quick": args.quick,
        },
    }
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v["value"] for k, v in result.items() if not k.startswith("_")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

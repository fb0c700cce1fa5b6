"""Webhook fan-out with a slow peer: 20 healthy partner endpoints and one that answers in 5 s, whose deliveries
were queued first. How long the healthy partners wait for their webhooks:

- with a short backlog at the slow peer (2 x the senders), with the worker's shipped caps (per host and per
  tenant) and with the strongest alternative, the same pool without them (every sender free to take the next
  due delivery, wherever it goes);
- with a long backlog at the slow peer (5,000 deliveries, far more than any claim looks at), with the shipped
  caps: fair claiming gives every destination with due work its turn, however many wait before it.

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
import uuid
from datetime import timedelta
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
from django.utils import timezone  # noqa: E402

from accounts.services import create_tenant_with_key  # noqa: E402
from gateway.config import CONFIG  # noqa: E402
from headshots_tools.webhook_endpoint import WebhookEndpoint  # noqa: E402
from orders.models import Order  # noqa: E402
from webhooks import destinations, services as webhooks  # noqa: E402
from webhooks.delivery import DeliveryPool  # noqa: E402
from webhooks.models import WebhookDelivery  # noqa: E402
from workers.loops import run_webhooks  # noqa: E402

SLOW_DELAY_S = 5.0
HEALTHY_ENDPOINTS = 20
LONG_BACKLOG = 5000
DEADLINE_S = 120


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def run(caps: int | None, slow_backlog: int, per_healthy: int) -> dict:
    """Queue the slow peer's backlog, then the healthy partners' webhooks; deliver until all healthy arrived.

    `caps`: both caps (per host, per tenant) at this value; None: the shipped ones. Every partner's endpoint
    listens on an address of its own (127.0.0.x), a host of its own to the caps, as real partners' are.
    """
    WebhookDelivery.objects.all().delete()
    # Made-up bodies: this measures delivery, not content (the suite checks every real body against its schema).
    slow = WebhookEndpoint(delay_s=SLOW_DELAY_S, host="127.0.0.2", check_schemas=False)
    healthy = [WebhookEndpoint(host=f"127.0.0.{3 + i}", check_schemas=False) for i in range(HEALTHY_ENDPOINTS)]
    try:
        slow_tenant = _order("slow-peer", slow.url).tenant
        queued = timezone.now() - timedelta(minutes=1)  # due before any healthy webhook
        WebhookDelivery.objects.bulk_create(
            (
                WebhookDelivery(
                    tenant=slow_tenant,
                    order_id=uuid.uuid4(),
                    event_type="order.progress",
                    url=slow.url,
                    host=destinations.host_of(slow.url),
                    payload={"type": "order.progress", "data": {"percent": 1}},
                    next_attempt_at=queued,
                )
                for _ in range(slow_backlog)
            ),
            batch_size=1000,
        )
        enqueued_at = time.monotonic()
        for i, endpoint in enumerate(healthy):
            order = _order(f"partner-{i}", endpoint.url)
            for _ in range(per_healthy):
                webhooks.enqueue(order, "order.progress", {"percent": 1})
        stop = threading.Event()
        # The worker's own webhook loop, with a pool of the shipped size and the caps under test.
        loop = threading.Thread(
            target=run_webhooks, args=(stop,), kwargs={"pool": DeliveryPool(per_host=caps, per_tenant=caps)}
        )
        loop.start()
        deadline = time.monotonic() + DEADLINE_S
        try:
            while sum(len(e.requests) for e in healthy) < HEALTHY_ENDPOINTS * per_healthy:
                if time.monotonic() > deadline:
                    arrived = sum(len(e.requests) for e in healthy)
                    raise RuntimeError(
                        f"{arrived} of {HEALTHY_ENDPOINTS * per_healthy} healthy webhooks in {DEADLINE_S} s"
                    )
                time.sleep(0.05)
        finally:
            stop.set()
            loop.join()
        arrivals = [r.at - enqueued_at for e in healthy for r in e.requests]
        # From due (enqueued, due at once) to recorded delivered, as the delivery log says.
        recorded = [
            (d.delivered_at - d.created_at).total_seconds()
            for d in WebhookDelivery.objects.exclude(tenant=slow_tenant).filter(state="delivered")
        ]
        slow_seen = len(slow.requests)
    finally:
        for endpoint in (slow, *healthy):
            endpoint.close()
    return {
        "p50": percentile(arrivals, 50),
        "p95": percentile(arrivals, 95),
        "due_to_delivered_p95": percentile(recorded, 95),
        "slow_seen": slow_seen,
        "slow_max_in_flight": slow.max_in_flight,
    }


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
    slow_backlog = 2 * CONFIG.webhook_senders  # more than every sender: a pool without the caps fills with it
    shipped = run(None, slow_backlog, per_healthy)
    uncapped = run(CONFIG.webhook_senders, slow_backlog, per_healthy)
    long_backlog = run(None, LONG_BACKLOG, per_healthy)
    caps = f"caps {CONFIG.webhook_per_host} per host, {CONFIG.webhook_per_tenant} per tenant"
    healthy = f"{HEALTHY_ENDPOINTS} healthy endpoints x {per_healthy} webhooks"
    slow_peer = f"one endpoint answering in {SLOW_DELAY_S:.0f} s"
    setup = f"{healthy}, queued after {slow_backlog} to {slow_peer}; {CONFIG.webhook_senders} senders"
    result = {
        "webhooks.healthy_p95_s_with_slow_peer": {
            "value": round(shipped["p95"], 3),
            "unit": "s",
            "note": f"enqueue to arrival, p95; {caps}; {setup}; bar < 1",
        },
        "webhooks.healthy_p50_s_with_slow_peer": {"value": round(shipped["p50"], 3), "unit": "s", "note": setup},
        "webhooks.healthy_p95_s_without_cap": {
            "value": round(uncapped["p95"], 3),
            "unit": "s",
            "note": f"the same pool without the caps (the alternative); {setup}",
        },
        "webhooks.uncapped_over_capped_p95": {
            "value": round(uncapped["p95"] / shipped["p95"], 1),
            "unit": "x",
            "note": "how much longer healthy partners wait without the caps",
        },
        "webhooks.healthy_p95_s_with_slow_backlog": {
            "value": round(long_backlog["due_to_delivered_p95"], 3),
            "unit": "s",
            "note": (
                f"due to recorded delivered, p95, of the other partners' webhooks; {healthy}, queued after "
                f"{LONG_BACKLOG} to {slow_peer}; {caps}; "
                f"{CONFIG.webhook_senders} senders; bar <= 1 (before fair claiming: none within {DEADLINE_S} s)"
            ),
        },
        "webhooks.slow_backlog_max_in_flight": {
            "value": long_backlog["slow_max_in_flight"],
            "unit": "requests",
            "note": f"the most the slow endpoint answered at once; its host's cap is {CONFIG.webhook_per_host}",
        },
        "_config": {
            "senders": CONFIG.webhook_senders,
            "per_host": CONFIG.webhook_per_host,
            "per_tenant": CONFIG.webhook_per_tenant,
            "slow_delay_s": SLOW_DELAY_S,
            "slow_backlog": slow_backlog,
            "long_slow_backlog": LONG_BACKLOG,
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

"""One partner's slow or swamped webhook endpoint never holds back another partner's webhooks: claiming is fair
across destinations whatever the backlog, and caps per host and per tenant hold across every worker."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

from django.db import connection
from django.utils import timezone

from accounts.services import create_tenant_with_key
from headshots_tools.webhook_endpoint import WebhookEndpoint
from orders.models import Order
from orders.representation import order_summary
from webhooks import destinations, services as webhooks
from webhooks.models import WebhookDelivery

WORKER = Path(__file__).with_name("webhook_worker.py")
SLOW_BACKLOG = 5000  # the old claim looked at the oldest 10 x 16 due deliveries: this is 30 times that
PER_HOST, PER_TENANT, SENDERS = 4, 8, 4
HEALTHY_TENANTS, PER_HEALTHY_TENANT = 4, 10


def _database_url() -> str:
    """The test database, for processes of the test's own."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


class Worker:
    """A gateway worker's webhook loop in a process of its own."""

    def __init__(self, log: Path):
        env = os.environ | {
            "DATABASE_URL": _database_url(),
            "HEADSHOTS_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
            "HEADSHOTS_WEBHOOK_TIMEOUT_S": "10",  # the slow endpoint answers, slowly: its deliveries succeed
            "HEADSHOTS_WEBHOOK_SENDERS": str(SENDERS),
            "HEADSHOTS_WEBHOOK_PER_HOST": str(PER_HOST),
            "HEADSHOTS_WEBHOOK_PER_TENANT": str(PER_TENANT),
        }
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER)], env=env, stdout=subprocess.PIPE, stderr=self.log, text=True
        )

    def wait_ready(self) -> None:
        assert self.process.stdout and self.process.stdout.readline().strip() == "ready", "the worker did not start"

    def stop(self) -> dict:
        """SIGTERM: it lets what is in flight finish and says how many deliveries it claimed."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=60)
        self.log.close()
        return json.loads(out.strip().splitlines()[-1])

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


def _progress(order: Order) -> dict:
    """An order.progress webhook's data, as the gateway sends it (the endpoints check it against its schema)."""
    return order_summary(order) | {"eta_s": None}


def _ids(endpoint: WebhookEndpoint) -> list[str]:
    return [{k.lower(): v for k, v in r.headers.items()}["webhook-id"] for r in endpoint.requests]


def test_a_slow_partners_backlog_holds_back_no_one_across_several_workers(transactional_db, tmp_path):
    slow = WebhookEndpoint(delay_s=5.0, host="127.0.0.2")
    healthy = [WebhookEndpoint(host=f"127.0.0.{3 + i}") for i in range(HEALTHY_TENANTS)]
    workers: list[Worker] = []
    try:
        slow_tenant, _ = create_tenant_with_key("slow-partner")
        queued = timezone.now() - timedelta(minutes=1)  # all older than anyone else's webhooks
        slow_order = Order.objects.create(tenant=slow_tenant, package="trial", style_ids=["tech-grey"])
        data = {"order_id": str(slow_order.id), **_progress(slow_order)}
        progress = {"type": "order.progress", "timestamp": queued.isoformat(), "data": data}
        WebhookDelivery.objects.bulk_create(
            (
                WebhookDelivery(
                    tenant=slow_tenant,
                    order_id=uuid.uuid4(),
                    event_type="order.progress",
                    url=slow.url,
                    host=destinations.host_of(slow.url),
                    payload=progress,
                    next_attempt_at=queued,
                )
                for _ in range(SLOW_BACKLOG)
            ),
            batch_size=1000,
        )
        workers = [Worker(tmp_path / f"worker-{i}.log") for i in range(2)]
        for worker in workers:
            worker.wait_ready()
        # Both workers are claiming the backlog now; the other partners' webhooks come due after it.
        expected: dict[str, set[str]] = {}
        for i, endpoint in enumerate(healthy):
            tenant, _ = create_tenant_with_key(f"partner-{i}")
            order = Order.objects.create(
                tenant=tenant, package="trial", style_ids=["tech-grey"], webhook_url=endpoint.url
            )
            expected[endpoint.url] = {
                webhooks.enqueue(order, "order.progress", _progress(order)).id for _ in range(PER_HEALTHY_TENANT)
            }

        deadline = time.monotonic() + 120
        while sum(len(e.requests) for e in healthy) < HEALTHY_TENANTS * PER_HEALTHY_TENANT:
            assert time.monotonic() < deadline, (
                f"healthy webhooks undelivered: {[len(e.requests) for e in healthy]}; the slow one got "
                f"{len(slow.requests)}"
            )
            time.sleep(0.05)
        while len(slow.requests) <= 2 * PER_HOST:  # slots freed and taken again, by either worker
            assert time.monotonic() < deadline, f"the slow endpoint got only {len(slow.requests)} requests"
            time.sleep(0.05)
        claimed = [worker.stop() for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
        for endpoint in (slow, *healthy):
            endpoint.close()

    assert all(c["claimed"] > 0 for c in claimed), f"both workers claimed deliveries: {claimed}"
    for endpoint in healthy:
        ids = _ids(endpoint)
        assert Counter(ids).most_common(1)[0][1] == 1, "no webhook sent twice"
        assert set(ids) == expected[endpoint.url]
    assert WebhookDelivery.objects.filter(tenant__name__startswith="partner-", state="delivered").count() == (
        HEALTHY_TENANTS * PER_HEALTHY_TENANT
    )
    slow_ids = _ids(slow)
    assert len(set(slow_ids)) == len(slow_ids), "no slow webhook sent twice, by one worker or by both"
    assert slow.max_in_flight <= PER_HOST, f"the slow host held {slow.max_in_flight} senders across the workers"
    delivered = WebhookDelivery.objects.filter(tenant=slow_tenant, state="delivered")
    assert set(delivered.values_list("id", flat=True)) == set(slow_ids), "what the workers sent is recorded"
    assert WebhookDelivery.objects.filter(tenant=slow_tenant, state="pending").count() == SLOW_BACKLOG - len(slow_ids)


def _queue(tenant, url: str, n: int) -> None:
    order = Order.objects.create(tenant=tenant, package="trial", style_ids=["tech-grey"], webhook_url=url)
    for _ in range(n):
        webhooks.enqueue(order, "order.progress", _progress(order))


def test_the_caps_count_a_host_whatever_its_port_or_user_and_a_tenant_across_its_hosts(db):
    one_host, many_hosts, other = (create_tenant_with_key(name)[0] for name in ("one-host", "many-hosts", "other"))
    # One partner, one host written five ways: one host to the cap.
    for url in (
        "https://hooks.one.example/a",
        "https://hooks.one.example:8443/b",
        "https://user@HOOKS.One.Example/c",
        "http://hooks.one.example./d",
        "https://user:pw@hooks.one.example:9000/e",
    ):
        _queue(one_host, url, 10)
    # Another partner, with five hosts of its own: one tenant to its cap.
    for i in range(5):
        _queue(many_hosts, f"https://h{i}.many.example/hooks", 10)
    _queue(other, "https://hooks.other.example/hooks", 3)  # queued last

    claimed = webhooks.claim_due(limit=100, per_host=PER_HOST, per_tenant=PER_TENANT)

    by_tenant = Counter(d.tenant.name for d in claimed)
    assert by_tenant == {"one-host": PER_HOST, "many-hosts": PER_TENANT, "other": 3}
    assert max(Counter(d.host for d in claimed if d.tenant == many_hosts).values()) <= PER_HOST
    # Claimed and not yet recorded, they count against the caps for every worker: nothing more for the two.
    _queue(other, "https://hooks.other.example/hooks", 1)
    assert [d.tenant.name for d in webhooks.claim_due(limit=100, per_host=PER_HOST, per_tenant=PER_TENANT)] == ["other"]

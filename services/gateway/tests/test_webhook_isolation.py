"""One partner's slow webhook endpoint never delays another partner's webhooks: the worker's senders have a
cap per destination, and the slow one's deliveries wait their turn while everyone else's go out."""

import dataclasses
import time

import pytest

from accounts.services import create_tenant_with_key
from headshots_tools.webhook_endpoint import WebhookEndpoint
from orders.services import creation
from webhooks import services as webhooks
from webhooks.delivery import DeliveryPool
from webhooks.models import WebhookDelivery


@pytest.fixture(autouse=True)
def loopback_endpoints(monkeypatch):
    monkeypatch.setattr(
        webhooks, "CONFIG", dataclasses.replace(webhooks.CONFIG, webhook_allowed_networks=("127.0.0.0/8",))
    )


def test_a_slow_endpoint_does_not_delay_the_others(transactional_db):
    slow = WebhookEndpoint(delay_s=2.0)
    healthy = [WebhookEndpoint() for _ in range(5)]
    try:
        slow_tenant, _ = create_tenant_with_key("slow-partner")
        for _ in range(12):  # a backlog at the slow endpoint, queued first
            creation.create_order(slow_tenant, package="trial", style_ids=["tech-grey"], webhook_url=slow.url)
        enqueued_at = time.monotonic()
        for i, endpoint in enumerate(healthy):
            tenant, _ = create_tenant_with_key(f"partner-{i}")
            creation.create_order(tenant, package="trial", style_ids=["tech-grey"], webhook_url=endpoint.url)
        pool = DeliveryPool(senders=8, per_destination=2)
        deadline = time.monotonic() + 10
        while any(not e.requests for e in healthy):
            assert time.monotonic() < deadline, "healthy endpoints were not reached"
            pool.start_due()
            time.sleep(0.05)
        latencies = [e.requests[0].at - enqueued_at for e in healthy]
        assert max(latencies) < 1.0, latencies
        assert len(slow.requests) <= 2, "the slow endpoint never holds more than its share of senders"
        pool.shutdown()
    finally:
        for endpoint in (slow, *healthy):
            endpoint.close()
    assert WebhookDelivery.objects.filter(url__in=[e.url for e in healthy], state="delivered").count() == 5

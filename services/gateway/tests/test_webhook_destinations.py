"""Webhooks reach public addresses only: a partner cannot point them at our network (SSRF)."""

import dataclasses

import grpc
import pytest

from headshots.partner.v1 import partner_api_pb2 as pb
from headshots_tools.webhook_endpoint import WebhookEndpoint
from orders.models import Order
from webhooks import services as webhooks
from webhooks.models import WebhookDelivery

from .support import grpc_error_details


@pytest.fixture
def endpoint():
    e = WebhookEndpoint()
    yield e
    e.close()


def _allow(monkeypatch, *networks):
    monkeypatch.setattr(webhooks, "CONFIG", dataclasses.replace(webhooks.CONFIG, webhook_allowed_networks=networks))


def _create(api, url):
    return api.post("/v1/orders", {"package": "trial", "styles": ["tech-grey"], "webhook_url": url}, format="json")


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://127.0.0.1:8000/hooks", "loopback"),
        ("http://localhost:8000/hooks", "loopback"),  # a name is resolved, not trusted
        ("http://10.1.2.3/hooks", "private"),
        ("http://192.168.0.10/hooks", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),  # the cloud metadata service
        ("http://[::1]:8000/hooks", "loopback"),
        ("http://[::ffff:127.0.0.1]/hooks", "loopback"),  # IPv4 inside IPv6
        ("http://0.0.0.0/hooks", "unspecified"),
        ("http://100.64.0.1/hooks", "non-public"),  # carrier-grade NAT space
        ("ftp://203.0.113.7/hooks", "scheme"),
        ("http://no-such-host.invalid/hooks", "does not resolve"),
        ("https://partner:secret@8.8.8.8/hooks", "credentials"),  # never sent: they would sit in our database
    ],
)
def test_an_order_whose_webhook_would_reach_our_network_is_refused(api, monkeypatch, url, why):
    _allow(monkeypatch)  # the production default: nothing but public addresses
    response = _create(api, url)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"]["code"] == "webhook_url_not_allowed" and why in body["error"]["message"]
    assert not Order.objects.exists() and not WebhookDelivery.objects.exists()  # nothing half-made


def test_a_public_webhook_url_is_accepted(api, monkeypatch):
    _allow(monkeypatch)
    response = _create(api, "https://8.8.8.8/hooks")  # a literal public address: no lookup, no request yet
    assert response.status_code == 201
    assert WebhookDelivery.objects.get().url == "https://8.8.8.8/hooks"


def test_an_operator_allowed_network_is_reachable(api, monkeypatch, endpoint):
    _allow(monkeypatch, "127.0.0.0/8")
    assert _create(api, endpoint.url).status_code == 201
    assert webhooks.deliver_due() == 1
    assert [r.path for r in endpoint.requests] == ["/hooks"] and WebhookDelivery.objects.get().state == "delivered"


def test_delivery_checks_again_and_gives_up_at_once_on_a_refused_address(api, monkeypatch, endpoint):
    _allow(monkeypatch, "127.0.0.0/8")
    assert _create(api, endpoint.url).status_code == 201
    _allow(monkeypatch)  # the operator narrows the allowance (or the name now resolves elsewhere)
    assert webhooks.deliver_due() == 1
    assert endpoint.requests == []  # no connection was made
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "failed" and delivery.attempts == 1  # retrying cannot help
    error = delivery.attempt_log.get().error
    assert "BlockedDestination" in error and "127.0.0.1 is a loopback address" in error


def test_redirects_are_not_followed(api, monkeypatch, endpoint):
    _allow(monkeypatch, "127.0.0.0/8")
    redirector = WebhookEndpoint(status=307, location=endpoint.url)
    try:
        assert _create(api, redirector.url).status_code == 201
        webhooks.deliver_due()
    finally:
        redirector.close()
    assert [r.path for r in redirector.requests] == ["/hooks"] and endpoint.requests == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "pending" and delivery.attempts == 1  # a failed attempt, retried later


def test_grpc_create_order_names_the_refused_field(partner, monkeypatch):
    _allow(monkeypatch)
    stub, auth = partner.stub, partner.auth
    with pytest.raises(grpc.RpcError) as error:
        stub.CreateOrder(
            pb.CreateOrderRequest(
                order=pb.Order(package="trial", style_ids=["tech-grey"]), webhook_url="http://169.254.169.254/"
            ),
            metadata=auth,
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = grpc_error_details(error.value)
    assert details["ErrorInfo"].reason == "webhook_url_not_allowed"
    assert [v.field for v in details["BadRequest"].field_violations] == ["webhook_url"]
    assert "link-local" in details["BadRequest"].field_violations[0].description

"""Every webhook delivery ends, delivered or failed, with each attempt on record whatever went wrong; and webhooks
are for partners (they sign them with their secret): a consumer's order cannot ask for one."""

import dataclasses

import grpc
import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey, Tenant
from accounts.services import issue_api_key
from headshots.partner.v1 import partner_api_pb2 as pb
from headshots_tools.webhook_endpoint import WebhookEndpoint
from orders.models import Order
from webhooks import services as webhooks
from webhooks.models import WebhookDelivery

from .support import grpc_error_details


def _configure(monkeypatch, **settings):
    """Loopback endpoints are reachable here (an operator's allowance); retries come due at once."""
    settings = {"webhook_allowed_networks": ("127.0.0.0/8",), "webhook_base_delay_s": 0.0, **settings}
    monkeypatch.setattr(webhooks, "CONFIG", dataclasses.replace(webhooks.CONFIG, **settings))


@pytest.fixture
def endpoint():
    with WebhookEndpoint() as e:
        yield e


def _consumer() -> Tenant:
    """A consumer's account as sign-up makes it: no webhook signing secret."""
    return Tenant.objects.create(name="Ada", kind=Tenant.Kind.CONSUMER, email="ada@example.com")


@pytest.fixture
def consumer(db):
    tenant = _consumer()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_api_key(tenant, ApiKey.Kind.PERSONAL_TOKEN)}")
    client.tenant = tenant
    return client


def _log(api, order_id) -> dict:
    (delivery,) = api.get(f"/v1/orders/{order_id}/webhook-deliveries").json()["results"]
    return delivery


def test_a_consumer_order_from_before_the_rule_ends_failed_with_the_reason_on_record(consumer, monkeypatch, endpoint):
    """Consumers have no signing secret. Such an order (made before consumers were refused webhooks) once
    retried every half minute forever, with nothing on record; now its one attempt says why, and it ends."""
    _configure(monkeypatch)
    order = Order.objects.create(
        tenant=consumer.tenant, package="trial", style_ids=["tech-grey"], webhook_url=endpoint.url
    )
    webhooks.enqueue(order, "order.created", {})

    assert webhooks.deliver_due() == 1
    assert webhooks.deliver_due() == 0, "given up: no secret comes by retrying"

    delivery = _log(consumer, order.id)
    assert delivery["state"] == "failed" and delivery["attempts"] == 1
    assert "EmptyWebhookSecretError" in delivery["attempt_log"][0]["error"]
    assert endpoint.requests == [], "an unsigned webhook is never sent"


def test_a_malformed_answer_is_an_attempt_on_record_and_the_attempts_are_bounded(api, monkeypatch):
    _configure(monkeypatch, webhook_max_attempts=3)
    with WebhookEndpoint(raw=b"NOT HTTP AT ALL\r\n\r\n") as broken:
        order_id = api.post(
            "/v1/orders", {"package": "trial", "styles": ["tech-grey"], "webhook_url": broken.url}, format="json"
        ).json()["id"]
        while webhooks.deliver_due():
            pass
        assert len(broken.requests) == 3

    delivery = _log(api, order_id)
    assert delivery["state"] == "failed" and delivery["attempts"] == 3
    errors = [a["error"] for a in delivery["attempt_log"]]
    assert len(errors) == 3 and all(e.startswith("BadStatusLine") for e in errors), errors


def test_a_claim_that_ends_without_a_recorded_attempt_counts_as_one(api, monkeypatch, endpoint):
    """A worker that claims a delivery and dies (or cannot record what happened) leaves the claim to run out; the
    next claim records that attempt as lost, so the delivery cannot be retried forever without a record."""
    _configure(monkeypatch, webhook_max_attempts=3)
    monkeypatch.setattr(webhooks, "CLAIM_MARGIN_S", -3600.0)  # every claim has run out as soon as it is made
    order_id = api.post(
        "/v1/orders", {"package": "trial", "styles": ["tech-grey"], "webhook_url": endpoint.url}, format="json"
    ).json()["id"]

    for _ in range(3):
        assert len(webhooks.claim_due(1)) == 1  # claimed by a worker that then dies before recording anything
    assert webhooks.claim_due(1) == [], "the third lost attempt was the last one allowed"

    delivery = _log(api, order_id)
    assert delivery["state"] == "failed" and delivery["attempts"] == 3
    assert [a["error"].startswith("no attempt recorded") for a in delivery["attempt_log"]] == [True] * 3
    assert endpoint.requests == []


def test_a_consumer_cannot_ask_for_webhooks(consumer):
    response = consumer.post(
        "/v1/orders",
        {"package": "trial", "styles": ["tech-grey"], "webhook_url": "https://8.8.8.8/hooks"},
        format="json",
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "webhooks_need_partner" and "webhook_url" in error["details"]["fields"]
    assert not Order.objects.exists() and not WebhookDelivery.objects.exists()  # nothing half-made
    created = consumer.post("/v1/orders", {"package": "trial", "styles": ["tech-grey"]}, format="json")
    assert created.status_code == 201, "without a webhook_url the order is made"


def test_a_consumer_token_on_the_partner_api_cannot_ask_for_webhooks_either(partner):
    tenant = _consumer()
    token = issue_api_key(tenant, ApiKey.Kind.PERSONAL_TOKEN)
    with pytest.raises(grpc.RpcError) as error:
        partner.stub.CreateOrder(
            pb.CreateOrderRequest(
                order=pb.Order(package="trial", style_ids=["tech-grey"]), webhook_url="https://8.8.8.8/hooks"
            ),
            metadata=[("authorization", f"Bearer {token}")],
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = grpc_error_details(error.value)
    assert details["ErrorInfo"].reason == "webhooks_need_partner"
    assert [v.field for v in details["BadRequest"].field_violations] == ["webhook_url"]
    assert not Order.objects.filter(tenant=tenant).exists()

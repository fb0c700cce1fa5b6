"""Every webhook event type has a published JSON Schema (docs/partners/webhooks/), and the tests' webhook receiver
refuses a body its schema does not describe (it checks every webhook the suite receives)."""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest
from jsonschema import Draft202012Validator

from headshots_tools import webhook_schemas
from headshots_tools.webhook_endpoint import WebhookEndpoint


def test_every_event_type_the_gateway_sends_has_a_valid_schema():
    from webhooks.services import EVENT_TYPES

    assert set(webhook_schemas.validators()) == set(EVENT_TYPES)
    for path in webhook_schemas.SCHEMAS.glob("*.schema.json"):
        Draft202012Validator.check_schema(json.loads(path.read_text()))


def _post(endpoint: WebhookEndpoint, payload: dict) -> None:
    request = urllib.request.Request(endpoint.url, data=json.dumps(payload).encode(), method="POST")
    urllib.request.urlopen(request, timeout=10).close()


def test_the_receiver_fails_on_a_body_its_schema_does_not_describe():
    order_id = str(uuid.uuid4())
    deleted = {"receipt_id": str(uuid.uuid4()), "blobs_deleted": 7, "order_id": order_id}
    good = {"type": "order.deleted", "timestamp": "2026-12-06T12:00:00+00:00", "data": deleted}
    with WebhookEndpoint() as endpoint:
        _post(endpoint, good)
    assert endpoint.schema_problems == []

    endpoint = WebhookEndpoint()
    _post(endpoint, {**good, "data": {**deleted, "blobs_deleted": "seven"}})
    _post(endpoint, {**good, "type": "order.shipped"})
    with pytest.raises(AssertionError) as refused:
        endpoint.close()
    assert "order.deleted: data/blobs_deleted: 'seven' is not of type 'integer'" in str(refused.value)
    assert "no published schema for event type 'order.shipped'" in str(refused.value)

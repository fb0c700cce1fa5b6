"""One definition of an order's shape: the OpenAPI schema, the stored status, webhooks and gRPC all follow it."""

import json

from rest_framework import serializers

from headshots.partner.v1 import partner_api_pb2 as pb
from orders.models import Order
from orders.representation import SUMMARY_FIELDS, order_representation, order_summary
from orders.serializers import OrderOutput
from partner_grpc.messages import order_message


def _field_tree(serializer: serializers.Serializer) -> dict:
    return {
        name: _field_tree(field) if isinstance(field, serializers.Serializer) else None
        for name, field in serializer.fields.items()
    }


def _key_tree(value: dict) -> dict:
    return {key: _key_tree(item) if isinstance(item, dict) else None for key, item in value.items()}


def test_the_openapi_schema_describes_exactly_the_representation(api, order):
    stored = Order.objects.get(pk=order["id"])
    representation = order_representation(stored)
    assert _field_tree(OrderOutput()) == _key_tree(representation)
    assert OrderOutput(data=representation).is_valid(), OrderOutput(data=representation).errors
    assert json.loads(stored.status_json) == representation == api.get(f"/v1/orders/{order['id']}").json()


def test_webhooks_and_grpc_show_the_same_order(api, order):
    stored = Order.objects.get(pk=order["id"])
    representation = order_representation(stored)
    summary = order_summary(stored)
    assert set(summary) == set(SUMMARY_FIELDS) and summary["state"] == representation["state"]
    assert summary["progress"] == representation["progress"]
    message = order_message(representation)
    assert (message.uid, message.name, message.state, list(message.style_ids)) == (
        order["id"],
        f"orders/{order['id']}",
        pb.Order.STATE_AWAITING_PHOTOS,
        representation["styles"],
    )
    assert message.create_time.ToJsonString().startswith(representation["created_at"][:19])

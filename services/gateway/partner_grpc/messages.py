"""The partner API's messages, built from the one representation of an order (orders.representation)."""

from __future__ import annotations

from typing import Any

from google.protobuf import timestamp_pb2

from headshots.v1 import partner_api_pb2 as pb
from orders.models import Order

# The order states by their names in the proto enum (constructors take an enum value by name too).
_STATE_ENUM = {value: f"ORDER_STATE_{name}" for value, name in zip(Order.State.values, Order.State.names)}


def _timestamp(iso: str | None) -> timestamp_pb2.Timestamp | None:
    if iso is None:
        return None
    timestamp = timestamp_pb2.Timestamp()
    timestamp.FromJsonString(iso)
    return timestamp


def order_message(order: dict[str, Any]) -> pb.Order:
    """`order` is an order's representation (`order_representation`, or its stored status document)."""
    progress = order["progress"]
    return pb.Order(
        order_id=order["id"],
        state=_STATE_ENUM[order["state"]],
        package=order["package"],
        style_ids=order["styles"],
        progress=pb.OrderProgress(
            stage=progress["stage"], percent=progress["percent"], eta_seconds=progress["eta_s"] or 0.0
        ),
        photos_accepted=order["counts"]["photos_accepted"],
        headshots_ready=order["counts"]["headshots"],
        failure_reason=order["failure_reason"],
        create_time=_timestamp(order["created_at"]),
        update_time=_timestamp(order["updated_at"]),
    )

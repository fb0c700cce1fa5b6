"""An order's training and rendering as a google.longrunning Operation (AIP-151), named `operations/{order}`.

SubmitOrder returns it; the Operations service (on the partner port) gets, lists and waits on it. It is
done when the order is final: a completed order's operation carries the Order as its response, a failed
one an ABORTED error (`order_failed`, with the reason), a deleted one a CANCELLED error (`order_deleted`).
Orders cannot be cancelled mid-way (DeleteOrder purges them), nor operations deleted: those two methods
answer UNIMPLEMENTED.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import any_pb2, empty_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from gateway.errors import InvalidArgument, NotFound
from orders import selectors
from orders.models import Order
from orders.representation import order_representation
from partner_grpc import calls, paging
from partner_grpc.limits import StreamLimiter
from partner_grpc.messages import order_message, progress_message
from partner_grpc.names import operation_name, parse_operation_name
from partner_grpc.status import ERROR_DOMAIN

WAIT_POLL_S = 0.5
DEFAULT_WAIT_S = 30.0
MAX_WAIT_S = 300.0
_FINAL = {str(state) for state in Order.FINAL_STATES}


def _error(code: int, reason: str, message: str) -> status_pb2.Status:
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN))
    return status_pb2.Status(code=code, message=message, details=[info])


def operation_message(order: dict[str, Any]) -> operations_pb2.Operation:
    """The operation of a submitted order, from its representation."""
    operation = operations_pb2.Operation(name=operation_name(order["id"]), done=order["state"] in _FINAL)
    operation.metadata.Pack(progress_message(order["progress"]))
    if order["state"] == Order.State.COMPLETED:
        operation.response.Pack(order_message(order))
    elif order["state"] == Order.State.FAILED:
        operation.error.CopyFrom(_error(code_pb2.ABORTED, "order_failed", order["failure_reason"]))
    elif order["state"] == Order.State.DELETED:
        operation.error.CopyFrom(_error(code_pb2.CANCELLED, "order_deleted", "the order was deleted"))
    return operation


def _submitted_order(tenant, name: str) -> dict[str, Any]:
    """An order has an operation once it was submitted; before, its operation name names nothing."""
    order = selectors.order_status(tenant, parse_operation_name(name))
    if order["submitted_at"] is None:
        raise NotFound("operation")
    return order


class OperationsService(operations_pb2_grpc.OperationsServicer):
    def __init__(self, streams: StreamLimiter):
        self.streams = streams

    @calls.answer()
    def GetOperation(self, tenant, request, context):
        return operation_message(_submitted_order(tenant, request.name))

    @calls.answer()
    def ListOperations(self, tenant, request, context):
        if request.name not in ("", "operations"):
            raise InvalidArgument(
                "invalid_name", 'name must be "operations" or empty', details={"fields": {"name": ["invalid"]}}
            )
        if request.filter:
            raise InvalidArgument(
                "invalid_filter", "filter is not supported", details={"fields": {"filter": ["not supported"]}}
            )
        rows, next_token = paging.page(
            selectors.submitted_orders(tenant), request.page_size, request.page_token, "operations"
        )
        return operations_pb2.ListOperationsResponse(
            operations=[operation_message(order_representation(order)) for order in rows],
            next_page_token=next_token,
        )

    @calls.answer(slot=True)
    def WaitOperation(self, tenant, request, context):
        """Answers when the operation is done, or at the timeout (default 30 s, at most 300 s) or deadline."""
        if request.timeout.seconds < 0 or request.timeout.nanos < 0:
            raise InvalidArgument(
                "invalid_argument", "timeout must not be negative", details={"fields": {"timeout": ["negative"]}}
            )
        wait_s = min(request.timeout.seconds + request.timeout.nanos / 1e9 or DEFAULT_WAIT_S, MAX_WAIT_S)
        remaining = context.time_remaining()
        if remaining is not None:
            wait_s = min(wait_s, max(0.0, remaining - 1.0))  # answer before the caller gives up
        deadline = time.monotonic() + wait_s
        while True:
            order = _submitted_order(tenant, request.name)
            if order["state"] in _FINAL or time.monotonic() >= deadline or not context.is_active():
                return operation_message(order)
            time.sleep(WAIT_POLL_S)

    @calls.answer()
    def CancelOperation(self, tenant, request, context):
        _submitted_order(tenant, request.name)
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "orders cannot be cancelled part-way; DeleteOrder purges an order")
        return empty_pb2.Empty()

    @calls.answer()
    def DeleteOperation(self, tenant, request, context):
        _submitted_order(tenant, request.name)
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "operations are kept as long as their orders")
        return empty_pb2.Empty()

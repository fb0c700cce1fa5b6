"""The gRPC partner API on a real server: same use cases as REST, gRPC status codes with rich details."""

import grpc
import pytest

from headshots.v1 import partner_api_pb2 as pb
from orders.models import Order

from .support import grpc_error_details


def test_upload_submit_watch_and_delete_over_grpc(partner, person_photos):
    stub, auth = partner
    order = stub.CreateOrder(
        pb.CreateOrderRequest(request_id="o-1", package="trial", style_ids=["tech-grey"]), metadata=auth
    ).order
    messages = [
        pb.UploadPhotosRequest(order_id=order.order_id, filename=p.name, content=p.read_bytes()) for p in person_photos
    ] + [pb.UploadPhotosRequest(filename="empty.jpg", content=b"")]
    results = stub.UploadPhotos(iter(messages), metadata=auth).results
    assert [r.accepted for r in results] == [True] * 5 + [False]
    assert results[-1].reason_code == "empty_file"

    submitted = stub.SubmitOrder(pb.SubmitOrderRequest(order_id=order.order_id), metadata=auth).order
    assert submitted.state == pb.ORDER_STATE_QUEUED and submitted.photos_accepted == 5

    stored = Order.objects.get(pk=order.order_id)
    stored.state, stored.failure_reason = Order.State.FAILED, "test: stop here"
    stored.save()  # as the pipeline-event consumer does: the status document follows every save
    updates = list(stub.WatchOrder(pb.WatchOrderRequest(order_id=order.order_id), metadata=auth, timeout=10))
    assert updates[-1].order.state == pb.ORDER_STATE_FAILED  # the stream ends at a final state

    deleted = stub.DeleteOrder(pb.DeleteOrderRequest(order_id=order.order_id), metadata=auth).order
    assert deleted.state == pb.ORDER_STATE_DELETED and deleted.photos_accepted == 0


def test_invalid_argument_carries_field_violations(partner):
    stub, auth = partner
    with pytest.raises(grpc.RpcError) as error:
        stub.CreateOrder(pb.CreateOrderRequest(package="trial"), metadata=auth)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = grpc_error_details(error.value)
    assert [v.field for v in details["BadRequest"].field_violations] == ["style_ids"]
    assert details["ErrorInfo"].reason == "invalid_argument"


def test_quota_is_resource_exhausted_with_retry_info(partner):
    stub, auth = partner
    for _ in range(2):
        stub.CreateOrder(pb.CreateOrderRequest(package="trial", style_ids=["tech-grey"]), metadata=auth)
    with pytest.raises(grpc.RpcError) as error:
        stub.CreateOrder(pb.CreateOrderRequest(package="trial", style_ids=["tech-grey"]), metadata=auth)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = grpc_error_details(error.value)
    assert details["ErrorInfo"].reason == "quota_exceeded"
    assert details["RetryInfo"].retry_delay.seconds > 0


def test_unknown_and_foreign_orders_are_not_found_and_missing_keys_unauthenticated(partner):
    stub, auth = partner
    with pytest.raises(grpc.RpcError) as error:
        stub.GetOrder(pb.GetOrderRequest(order_id="00000000-0000-0000-0000-000000000000"), metadata=auth)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as error:
        stub.GetOrder(pb.GetOrderRequest(order_id="00000000-0000-0000-0000-000000000000"))
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as error:
        stub.GetOrder(pb.GetOrderRequest(order_id="not-a-uuid"), metadata=auth)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND

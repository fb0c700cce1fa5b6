"""Hostile clients: ten times the stream cap of long streams and slow uploads from several partners, while
another partner's short calls and the health check keep answering within a second."""

import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from accounts.services import create_tenant_with_key
from headshots.partner.v1 import partner_api_pb2 as pb, partner_api_pb2_grpc as pb_grpc
from headshots_tools.ports import free_port
from partner_grpc.limits import StreamLimiter
from partner_grpc.server import build_server

from .support import grpc_error_details

MAX_STREAMS, PER_TENANT = 4, 2


@pytest.fixture
def server(transactional_db):
    port = free_port()
    streams = StreamLimiter(MAX_STREAMS, PER_TENANT)
    server = build_server(port, streams=streams)
    server.start()
    yield f"127.0.0.1:{port}", streams
    server.stop(grace=None)


def _partner(name: str, channel) -> tuple[pb_grpc.PartnerServiceStub, list, pb.Order]:
    _, key = create_tenant_with_key(name)
    stub, auth = pb_grpc.PartnerServiceStub(channel), [("authorization", f"Bearer {key}")]
    order = stub.CreateOrder(
        pb.CreateOrderRequest(order=pb.Order(package="trial", style_ids=["tech-grey"])), metadata=auth
    )
    return stub, auth, order


def test_streams_over_the_cap_are_refused_and_short_calls_keep_answering(server, person_photos):
    target, streams = server
    channel = grpc.insecure_channel(target)
    hogs = [_partner(f"hog-{i}", channel) for i in range(4)]
    stub, auth, order = _partner("bystander", channel)
    release = threading.Event()
    calls: list = []
    outcomes: list[str] = []
    lock = threading.Lock()

    def note(outcome: str) -> None:
        with lock:
            outcomes.append(outcome)

    def watch(hog) -> None:
        hog_stub, hog_auth, hog_order = hog
        call = hog_stub.WatchOrder(pb.WatchOrderRequest(name=hog_order.name), metadata=hog_auth, timeout=60)
        calls.append(call)
        try:
            for _ in call:  # the order never finishes: the stream stays open until cancelled
                pass
            note("ended")
        except grpc.RpcError as error:
            note(grpc_error_details(error)["ErrorInfo"].reason if error.code() != grpc.StatusCode.CANCELLED else "")

    def slow_upload(hog) -> None:
        hog_stub, hog_auth, hog_order = hog

        def messages():
            yield pb.UploadPhotosRequest(parent=hog_order.name, filename="a.jpg", content=person_photos[0].read_bytes())
            release.wait(60)  # a client that never finishes its upload

        try:
            hog_stub.UploadPhotos(messages(), metadata=hog_auth, timeout=60)
            note("uploaded")
        except grpc.RpcError as error:
            details = grpc_error_details(error)
            note(details["ErrorInfo"].reason if "ErrorInfo" in details else error.code().name)

    threads = [threading.Thread(target=watch, args=(hogs[i % 4],)) for i in range(10 * MAX_STREAMS)]
    threads += [threading.Thread(target=slow_upload, args=(hogs[i % 4],)) for i in range(8)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 30
        while len(outcomes) < len(threads) - MAX_STREAMS and time.monotonic() < deadline:
            time.sleep(0.1)
        assert streams.open_streams() == MAX_STREAMS, "the cap is full"
        refused = [o for o in outcomes if o == "too_many_streams"]
        assert len(refused) == len(threads) - MAX_STREAMS, outcomes

        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(10):
            started = time.monotonic()
            assert stub.GetOrder(pb.GetOrderRequest(name=order.name), metadata=auth, timeout=1).name == order.name
            assert (
                health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                == health_pb2.HealthCheckResponse.SERVING
            )
            assert time.monotonic() - started < 1.0
        # The bystander's own stream is refused while the server is full: the cap is in all, not only per partner.
        with pytest.raises(grpc.RpcError) as refused_call:
            list(stub.WatchOrder(pb.WatchOrderRequest(name=order.name), metadata=auth, timeout=5))
        assert refused_call.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        release.set()
        for call in calls:
            call.cancel()
        for thread in threads:
            thread.join(timeout=30)
        channel.close()
    deadline = time.monotonic() + 10
    while streams.open_streams() and time.monotonic() < deadline:  # the server sees the cancellations
        time.sleep(0.1)
    assert streams.open_streams() == 0, "every slot is given back"

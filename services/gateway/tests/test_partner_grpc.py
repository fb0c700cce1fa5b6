"""The gRPC partner API on a real server: REST's use cases, AIP-shaped, with specific statuses and details."""

import dataclasses
import io
import zipfile

import grpc
import pytest
from django.core.cache import cache
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import duration_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from rest_framework.test import APIClient

from gateway import ratelimit
from headshots.partner.v1 import partner_api_pb2 as pb
from orders.models import Order, Photo
from partner_grpc import calls

from .support import complete_order, grpc_error_details

STYLE = ["tech-grey"]


@pytest.fixture(autouse=True)
def fresh_rate_counters():
    cache.clear()
    yield
    cache.clear()


def _create(stub, auth, **fields):
    return stub.CreateOrder(
        pb.CreateOrderRequest(order=pb.Order(package="trial", style_ids=STYLE), **fields), metadata=auth
    )


def _upload(stub, auth, order, paths):
    messages = [pb.UploadPhotosRequest(parent=order.name, filename=p.name, content=p.read_bytes()) for p in paths]
    return stub.UploadPhotos(iter(messages), metadata=auth)


def _error(call, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as raised:
        call(*args, **kwargs)
    details = grpc_error_details(raised.value)
    return raised.value.code(), details["ErrorInfo"].reason if "ErrorInfo" in details else "", details


def test_an_order_from_creation_to_deletion_over_grpc(partner, person_photos):
    stub, auth = partner.stub, partner.auth
    order = _create(stub, auth)
    assert order.name == f"orders/{order.uid}" and order.state == pb.Order.STATE_AWAITING_PHOTOS
    assert order.retention.seconds == 24 * 3600 and order.subject_class == "person"
    uploaded = stub.UploadPhotos(
        iter(
            [pb.UploadPhotosRequest(parent=order.name, filename=p.name, content=p.read_bytes()) for p in person_photos]
            + [pb.UploadPhotosRequest(filename="empty.jpg", content=b"")]
        ),
        metadata=auth,
    )
    assert [r.accepted for r in uploaded.results] == [True] * 5 + [False] and uploaded.accepted == 5
    assert uploaded.results[-1].reason_code == "empty_file"
    again = _upload(stub, auth, order, person_photos)  # a retry: the same photos, not five duplicates
    assert [(r.photo_id, r.accepted) for r in again.results] == [(r.photo_id, True) for r in uploaded.results[:5]]
    assert Photo.objects.filter(order_id=order.uid).count() == 6  # the 5 and the empty file's verdict: none new

    operation = stub.SubmitOrder(pb.SubmitOrderRequest(name=order.name), metadata=auth)
    progress = pb.OrderProgress()
    assert operation.name == f"operations/{order.uid}" and not operation.done
    assert operation.metadata.Unpack(progress) and progress.stage == "queued"

    complete_order(order.uid, n=3)  # as the trainer and renderer would, through the pipeline events
    operations = operations_pb2_grpc.OperationsStub(partner.channel)
    done = operations.GetOperation(operations_pb2.GetOperationRequest(name=operation.name), metadata=auth)
    finished = pb.Order()
    assert done.done and done.response.Unpack(finished) and finished.state == pb.Order.STATE_COMPLETED
    updates = list(stub.WatchOrder(pb.WatchOrderRequest(name=order.name), metadata=auth, timeout=10))
    assert updates[-1].order.state == pb.Order.STATE_COMPLETED  # the stream ends at a final state

    page = stub.ListHeadshots(pb.ListHeadshotsRequest(parent=order.name, page_size=2), metadata=auth)
    assert len(page.headshots) == 2 and page.total_size == 3 and page.next_page_token
    rest = stub.ListHeadshots(
        pb.ListHeadshotsRequest(parent=order.name, page_size=2, page_token=page.next_page_token), metadata=auth
    )
    assert len(rest.headshots) == 1 and not rest.next_page_token
    headshot = page.headshots[0]
    assert headshot.name == f"{order.name}/headshots/{headshot.uid}"
    chunks = list(stub.DownloadHeadshot(pb.DownloadHeadshotRequest(name=headshot.name), metadata=auth))
    png = b"".join(c.data for c in chunks)
    assert chunks[0].content_type == "image/png" and chunks[0].total_bytes == len(png) and png[:4] == b"\x89PNG"
    archive = b"".join(
        c.data
        for c in stub.DownloadHeadshotArchive(pb.DownloadHeadshotArchiveRequest(parent=order.name), metadata=auth)
    )
    assert len(zipfile.ZipFile(io.BytesIO(archive)).namelist()) == 3

    render = stub.CreateRender(
        pb.CreateRenderRequest(parent=order.name, style_id="executive-black", count=2), metadata=auth
    )
    assert render.uid and render.state == "pending" and render.count == 2
    deliveries = stub.ListWebhookDeliveries(pb.ListWebhookDeliveriesRequest(parent=order.name), metadata=auth)
    assert deliveries.webhook_deliveries == []  # this order has no webhook_url

    receipt = stub.DeleteOrder(pb.DeleteOrderRequest(name=order.name), metadata=auth)
    assert receipt.order == order.name and receipt.reason == "user_request"
    assert receipt.photos_deleted == 5 and receipt.headshots_deleted == 3 and receipt.remaining_blobs == 0
    assert stub.GetOrder(pb.GetOrderRequest(name=order.name), metadata=auth).state == pb.Order.STATE_DELETED


def test_a_reused_request_id_returns_the_first_order_or_is_refused_with_other_fields(partner):
    stub, auth = partner.stub, partner.auth
    first = _create(stub, auth, request_id="r-1")
    assert _create(stub, auth, request_id="r-1").name == first.name
    code, reason, _ = _error(
        stub.CreateOrder,
        pb.CreateOrderRequest(request_id="r-1", order=pb.Order(package="basic", style_ids=STYLE)),
        metadata=auth,
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "idempotency_key_reused")


def test_invalid_fields_are_named_by_their_request_paths(partner):
    stub, auth = partner.stub, partner.auth
    code, reason, details = _error(
        stub.CreateOrder, pb.CreateOrderRequest(order=pb.Order(package="trial")), metadata=auth
    )
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_argument")
    assert [v.field for v in details["BadRequest"].field_violations] == ["order.style_ids"]
    odd_retention = pb.Order(package="trial", style_ids=STYLE, retention=duration_pb2.Duration(seconds=90))
    code, _, details = _error(stub.CreateOrder, pb.CreateOrderRequest(order=odd_retention), metadata=auth)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in details["BadRequest"].field_violations] == ["order.retention"]


def test_the_monthly_quota_is_resource_exhausted_with_retry_info(partner):
    stub, auth = partner.stub, partner.auth
    for _ in range(2):
        _create(stub, auth)
    code, reason, details = _error(_create, stub, auth)
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "quota_exceeded")
    assert details["RetryInfo"].retry_delay.seconds > 0


def test_the_rate_limit_counts_grpc_calls_as_rest_does(partner, monkeypatch):
    stub, auth = partner.stub, partner.auth
    monkeypatch.setattr(calls, "CONFIG", dataclasses.replace(calls.CONFIG, rate_limit="3/min"))
    monkeypatch.setattr(ratelimit, "now_s", lambda: 1_800_000_030.0)  # mid-window: no boundary in the test
    for _ in range(3):
        stub.ListStyles(pb.ListStylesRequest(), metadata=auth)
    code, reason, details = _error(stub.ListStyles, pb.ListStylesRequest(), metadata=auth)
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "rate_limited")
    assert 0 < details["RetryInfo"].retry_delay.seconds <= 60


@pytest.mark.parametrize(
    ("call", "request_"),
    [
        ("GetOrder", pb.GetOrderRequest(name="orders/00000000-0000-0000-0000-000000000000")),
        ("DeleteOrder", pb.DeleteOrderRequest(name="orders/00000000-0000-0000-0000-000000000000")),
        ("ListHeadshots", pb.ListHeadshotsRequest(parent="orders/00000000-0000-0000-0000-000000000000")),
    ],
)
def test_unknown_orders_are_not_found(partner, call, request_):
    stub, auth = partner.stub, partner.auth
    assert _error(getattr(stub, call), request_, metadata=auth)[:2] == (grpc.StatusCode.NOT_FOUND, "not_found")


def test_watching_an_unknown_or_foreign_order_is_not_found(partner, api, order):
    stub, auth = partner.stub, partner.auth
    for name in ("orders/00000000-0000-0000-0000-000000000000", f"orders/{order['id']}"):
        with pytest.raises(grpc.RpcError) as raised:
            list(stub.WatchOrder(pb.WatchOrderRequest(name=name), metadata=auth, timeout=5))
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        assert grpc_error_details(raised.value)["ErrorInfo"].reason == "not_found"


@pytest.mark.parametrize("name", ["", "abc", "orders/not-a-uuid", "orders/00000000-0000-0000-0000-000000000000/x"])
def test_malformed_names_are_invalid_arguments(partner, name):
    stub, auth = partner.stub, partner.auth
    code, reason, details = _error(stub.GetOrder, pb.GetOrderRequest(name=name), metadata=auth)
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_name")
    assert [v.field for v in details["BadRequest"].field_violations] == ["name"]


def test_missing_or_wrong_keys_are_unauthenticated(partner):
    stub = partner.stub
    for metadata in ([], [("authorization", "Bearer hs_nope")]):
        code, reason, _ = _error(stub.GetOrder, pb.GetOrderRequest(name="orders/x"), metadata=metadata)
        assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")
    assert len(stub.ListStyles(pb.ListStylesRequest()).styles) == 6  # the catalogue is public, as in REST


def test_orders_are_listed_newest_first_in_pages_and_only_the_partners_own(partner, api):
    stub, auth = partner.stub, partner.auth
    first, second = _create(stub, auth), _create(stub, auth)
    api.post("/v1/orders", {"package": "trial", "styles": STYLE}, format="json")  # another partner's
    page = stub.ListOrders(pb.ListOrdersRequest(page_size=1), metadata=auth)
    assert [o.uid for o in page.orders] == [second.uid] and page.total_size == 2 and page.next_page_token
    rest = stub.ListOrders(pb.ListOrdersRequest(page_size=1, page_token=page.next_page_token), metadata=auth)
    assert [o.uid for o in rest.orders] == [first.uid] and not rest.next_page_token
    assert rest.orders[0] == stub.GetOrder(pb.GetOrderRequest(name=first.name), metadata=auth)
    code, reason, _ = _error(stub.ListOrders, pb.ListOrdersRequest(page_size=-1), metadata=auth)
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_argument")


@pytest.mark.parametrize("token", ["abc", "-5", "1" * 23, "eyJvZmZzZXQiOjEwfQ"])
def test_made_up_page_tokens_are_invalid_arguments(partner, token):
    stub, auth = partner.stub, partner.auth
    order = _create(stub, auth)
    code, reason, _ = _error(
        stub.ListHeadshots, pb.ListHeadshotsRequest(parent=order.name, page_token=token), metadata=auth
    )
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_page_token")


def test_a_page_token_works_only_with_the_request_it_came_from(partner):
    stub, auth = partner.stub, partner.auth
    order = _create(stub, auth)
    complete_order(order.uid, n=3)
    token = stub.ListHeadshots(pb.ListHeadshotsRequest(parent=order.name, page_size=1), metadata=auth).next_page_token
    other = pb.ListHeadshotsRequest(parent=order.name, page_size=1, page_token=token, style_id="executive-black")
    assert _error(stub.ListHeadshots, other, metadata=auth)[1] == "invalid_page_token"


def test_an_upload_over_the_caps_is_refused_and_leaves_nothing(partner, person_photos, monkeypatch):
    from partner_grpc import service

    stub, auth = partner.stub, partner.auth
    monkeypatch.setattr(service, "CONFIG", dataclasses.replace(service.CONFIG, max_upload_files=3))
    order = _create(stub, auth)
    code, reason, _ = _error(_upload, stub, auth, order, person_photos[:4])
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "too_many_files")
    assert Photo.objects.filter(order_id=order.uid).count() == 0
    assert stub.GetOrder(pb.GetOrderRequest(name=order.name), metadata=auth).photos_accepted == 0


def test_a_stream_that_fails_part_way_leaves_none_of_its_photos(partner, person_photos):
    stub, auth = partner.stub, partner.auth
    order, other = _create(stub, auth), _create(stub, auth)
    messages = [
        pb.UploadPhotosRequest(parent=order.name, filename=p.name, content=p.read_bytes()) for p in person_photos[:2]
    ]
    messages.append(pb.UploadPhotosRequest(parent=other.name, filename="x.jpg", content=person_photos[2].read_bytes()))
    code, _, details = _error(stub.UploadPhotos, iter(messages), metadata=auth)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "parent" in details["BadRequest"].field_violations[0].field
    assert Photo.objects.filter(order__in=[order.uid, other.uid]).count() == 0
    assert Order.objects.get(pk=order.uid).photos_accepted == 0


def test_wait_operation_answers_at_its_timeout_and_operations_are_listed(partner, person_photos):
    stub, auth = partner.stub, partner.auth
    order = _create(stub, auth)
    _upload(stub, auth, order, person_photos)
    operation = stub.SubmitOrder(pb.SubmitOrderRequest(name=order.name), metadata=auth)
    operations = operations_pb2_grpc.OperationsStub(partner.channel)
    waited = operations.WaitOperation(
        operations_pb2.WaitOperationRequest(name=operation.name, timeout=duration_pb2.Duration(seconds=1)),
        metadata=auth,
        timeout=10,
    )
    assert waited.name == operation.name and not waited.done
    listed = operations.ListOperations(operations_pb2.ListOperationsRequest(name="operations"), metadata=auth)
    assert [o.name for o in listed.operations] == [operation.name]
    code, reason, _ = _error(
        operations.GetOperation,
        operations_pb2.GetOperationRequest(name=f"operations/{_create(stub, auth).uid}"),
        metadata=auth,
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "not_found"), "an order not yet submitted has no operation"
    with pytest.raises(grpc.RpcError) as raised:
        operations.CancelOperation(operations_pb2.CancelOperationRequest(name=operation.name), metadata=auth)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_health_and_reflection_are_served(partner):
    health = health_pb2_grpc.HealthStub(partner.channel)
    for service in ("", "headshots.partner.v1.PartnerService", "google.longrunning.Operations"):
        assert (
            health.Check(health_pb2.HealthCheckRequest(service=service)).status
            == health_pb2.HealthCheckResponse.SERVING
        )
    reflection = reflection_pb2_grpc.ServerReflectionStub(partner.channel)
    [answer] = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for s in answer.list_services_response.service}
    assert {"headshots.partner.v1.PartnerService", "google.longrunning.Operations"} <= names


def test_headshots_sort_by_likeness_in_grpc_and_rest_alike(partner, api):
    """The best likeness first, when asked (REST ?sort=likeness, gRPC order_by), and the same order in both."""
    from orders.models import Headshot

    stub, auth = partner.stub, partner.auth
    order = _create(stub, auth)
    complete_order(order.uid, n=4)
    for headshot, score in zip(
        Headshot.objects.filter(order_id=order.uid).order_by("created_at"), (0.2, 0.9, 0.5, 0.7)
    ):
        Headshot.objects.filter(pk=headshot.pk).update(likeness_score=score)

    def listed(order_by: str, **paging) -> list[float]:
        request = pb.ListHeadshotsRequest(parent=order.name, order_by=order_by, **paging)
        return [h.likeness_score for h in stub.ListHeadshots(request, metadata=auth).headshots]

    assert listed("likeness_score desc") == pytest.approx([0.9, 0.7, 0.5, 0.2])
    assert listed("") == listed("create_time") == pytest.approx([0.2, 0.9, 0.5, 0.7])
    first = stub.ListHeadshots(
        pb.ListHeadshotsRequest(parent=order.name, order_by="likeness_score desc", page_size=2), metadata=auth
    )
    assert listed("likeness_score desc", page_size=2, page_token=first.next_page_token) == pytest.approx([0.5, 0.2])
    # The token belongs to its ordering.
    other = pb.ListHeadshotsRequest(parent=order.name, page_size=2, page_token=first.next_page_token)
    assert _error(stub.ListHeadshots, other, metadata=auth)[1] == "invalid_page_token"
    code, reason, details = _error(
        stub.ListHeadshots, pb.ListHeadshotsRequest(parent=order.name, order_by="seed"), metadata=auth
    )
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_argument")
    assert details["BadRequest"].field_violations[0].field == "order_by"

    # REST: the partner's key works there too.
    rest = APIClient()
    rest.credentials(HTTP_AUTHORIZATION=auth[0][1])
    page = rest.get(f"/v1/orders/{order.uid}/headshots?sort=likeness").json()
    assert [h["likeness_score"] for h in page["results"]] == pytest.approx([0.9, 0.7, 0.5, 0.2])
    assert rest.get(f"/v1/orders/{order.uid}/headshots?sort=seed").status_code == 400


def test_keys_are_listed_and_revoked_over_grpc_and_a_revoked_key_stops_working(partner, api):
    from accounts.selectors import tenant_for_key
    from accounts.services import issue_api_key

    stub, auth = partner.stub, partner.auth
    tenant = tenant_for_key(auth[0][1].removeprefix("Bearer "))
    laptop = issue_api_key(tenant)
    laptop_auth = [("authorization", f"Bearer {laptop}")]
    page = stub.ListApiKeys(pb.ListApiKeysRequest(page_size=1), metadata=auth)
    assert page.total_size == 2 and page.next_page_token  # only the partner's own: not the other tenant's key
    (newest,) = page.api_keys
    assert newest.name == f"apiKeys/{laptop.split('_')[1]}" and newest.kind == pb.ApiKey.KIND_API_KEY
    assert newest.active and not newest.current and not newest.HasField("revoke_time")
    rest = stub.ListApiKeys(pb.ListApiKeysRequest(page_size=1, page_token=page.next_page_token), metadata=auth)
    assert rest.api_keys[0].current and not rest.next_page_token  # the key this call was made with

    revoked = stub.DeleteApiKey(pb.DeleteApiKeyRequest(name=newest.name), metadata=auth)
    assert revoked.name == newest.name and not revoked.active and revoked.HasField("revoke_time")
    code, reason, _ = _error(stub.ListApiKeys, pb.ListApiKeysRequest(), metadata=laptop_auth)
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")
    assert stub.DeleteApiKey(pb.DeleteApiKeyRequest(name=newest.name), metadata=auth) == revoked  # again: the same
    assert stub.ListApiKeys(pb.ListApiKeysRequest(), metadata=auth).api_keys[1].active  # the partner's own key

    foreign = api.tenant.api_keys.get().prefix
    for name, expected in [
        (f"apiKeys/{foreign}", (grpc.StatusCode.NOT_FOUND, "not_found")),  # another partner's: as if none
        ("apiKeys/ffffffff", (grpc.StatusCode.NOT_FOUND, "not_found")),
        ("apiKeys/hs_x", (grpc.StatusCode.INVALID_ARGUMENT, "invalid_name")),
        ("", (grpc.StatusCode.INVALID_ARGUMENT, "invalid_name")),
    ]:
        assert _error(stub.DeleteApiKey, pb.DeleteApiKeyRequest(name=name), metadata=auth)[:2] == expected, name
    assert api.get("/v1/auth/tokens").status_code == 200  # the other partner's key still works


def test_photos_and_their_verdicts_are_in_the_order_and_can_be_removed(partner, person_photos):
    stub, auth = partner.stub, partner.auth
    order = _create(stub, auth)
    uploaded = _upload(stub, auth, order, person_photos[:2])
    assert [r.state for r in uploaded.results] == [pb.Photo.STATE_ACCEPTED] * 2
    got = stub.GetOrder(pb.GetOrderRequest(name=order.name), metadata=auth)
    assert [p.state for p in got.photos] == [pb.Photo.STATE_ACCEPTED] * 2
    first = got.photos[0]
    assert first.name == f"{order.name}/photos/{first.uid}" and first.face.right > first.face.left > 0
    stub.DeletePhoto(pb.DeletePhotoRequest(name=first.name), metadata=auth)
    after = stub.GetOrder(pb.GetOrderRequest(name=order.name), metadata=auth)
    assert [p.uid for p in after.photos] == [got.photos[1].uid] and after.photos_accepted == 1
    code, reason, _ = _error(stub.DeletePhoto, pb.DeletePhotoRequest(name=first.name), metadata=auth)
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "not_found")
    code, reason, _ = _error(stub.DeletePhoto, pb.DeletePhotoRequest(name=order.name), metadata=auth)
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_name")


@pytest.mark.checker_processes
def test_watch_order_streams_each_photo_verdict_as_it_lands(partner, person_photos):
    import threading

    from checker import services as checker
    from headshots.v1 import events_pb2
    from orders.services import photos

    stub, auth = partner.stub, partner.auth
    order = _create(stub, auth)
    [outcome] = photos.add_photos(Order.objects.get(pk=order.uid), [("me.jpg", person_photos[0].read_bytes())])
    seen: list[int] = []
    watching = threading.Event()

    def watch():
        for message in stub.WatchOrder(pb.WatchOrderRequest(name=order.name), metadata=auth, timeout=30):
            seen.append(message.order.photos[0].state if message.order.photos else 0)
            watching.set()
            if seen[-1] == pb.Photo.STATE_ACCEPTED:
                return

    thread = threading.Thread(target=watch)
    thread.start()
    assert watching.wait(20)
    received = events_pb2.PhotoReceived(photo_id=str(outcome.photo.id), quarantine_key=outcome.photo.quarantine_key)
    checker.check(order.uid, received)
    thread.join(30)
    assert seen[0] == pb.Photo.STATE_CHECKING and seen[-1] == pb.Photo.STATE_ACCEPTED

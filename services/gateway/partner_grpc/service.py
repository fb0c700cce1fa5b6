"""PartnerService: each method parses its request, calls the same services and selectors as REST, answers.

Inputs are validated by REST's own input serializers (one definition of what is valid), with their
field names mapped to the request's; every error is a domain error that `calls` turns into a status.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator

from google.protobuf import empty_pb2

from accounts import selectors as account_selectors, services as account_services
from gateway.blobs import blob_store
from gateway.config import CONFIG
from gateway.errors import InvalidArgument, PayloadTooLarge
from headshots.partner.v1 import partner_api_pb2 as pb, partner_api_pb2_grpc as pb_grpc
from headshots_common.styles import STYLES
from orders import idempotency, quality, selectors
from orders.models import Order
from orders.representation import order_representation
from orders.serializers import HeadshotListQuery, OrderCreateInput, RenderCreateInput
from orders.services import creation, photos, retention
from partner_grpc import calls, downloads, paging
from partner_grpc.inputs import validated
from partner_grpc.limits import StreamLimiter
from partner_grpc.messages import (
    api_key_message,
    delivery_message,
    headshot_message,
    order_message,
    receipt_message,
    render_message,
    report_message,
    style_message,
)
from partner_grpc.names import (
    order_name,
    parse_api_key_name,
    parse_headshot_name,
    parse_order_name,
    parse_photo_name,
)
from partner_grpc.operations import operation_message
from partner_grpc.teams import TeamMethods
from webhooks.selectors import deliveries_for_order

WATCH_POLL_S = 0.5
# A watch ends after this long even without a deadline; the partner watches again if it still cares.
WATCH_MAX_S = 3600.0
_FINAL = {str(state) for state in Order.FINAL_STATES}
# ListHeadshots' order_by (AIP-132) -> the selector's ordering.
HEADSHOT_ORDER_BY = {
    "": "created",
    "create_time": "created",
    "likeness_score desc": "likeness",
    "quality_score desc": "quality",
}


def _retention_hours(request: pb.CreateOrderRequest) -> int | None:
    if not request.order.HasField("retention"):
        return None
    seconds = request.order.retention.seconds + request.order.retention.nanos / 1e9
    if seconds % 3600:
        raise InvalidArgument(
            "invalid_argument",
            "the request has invalid fields",
            details={"fields": {"order.retention": ["must be a whole number of hours"]}},
        )
    return int(seconds // 3600)


def _once(tenant, method: str, request, create: Callable[[], tuple[int, dict]]) -> dict:
    """`create`'s body, run once per `request_id` (AIP-155); the same id with other fields is refused."""
    if not request.request_id:
        return create()[1]
    unkeyed = type(request)()
    unkeyed.CopyFrom(request)
    unkeyed.request_id = ""
    fingerprint = idempotency.fingerprint(f"grpc {method}", unkeyed.SerializeToString(deterministic=True))
    return idempotency.run_once(tenant, request.request_id, fingerprint, create, key_name="request_id")[1]


class PartnerService(TeamMethods, pb_grpc.PartnerServiceServicer):
    def __init__(self, streams: StreamLimiter):
        self.streams = streams

    # -- orders ------------------------------------------------------------------------------------------------
    @calls.answer(extra_rate=lambda: ("order_create", CONFIG.order_rate_limit))
    def CreateOrder(self, tenant, request, context):
        data = {
            "package": request.order.package,
            "styles": list(request.order.style_ids),
            "webhook_url": request.webhook_url,
        }
        if request.order.subject_class:
            data["subject_class"] = request.order.subject_class
        hours = _retention_hours(request)
        if hours is not None:
            data["retention_hours"] = hours
        fields = validated(
            OrderCreateInput,
            data,
            {
                "package": "order.package",
                "styles": "order.style_ids",
                "subject_class": "order.subject_class",
                "retention_hours": "order.retention",
            },
        )

        def create() -> tuple[int, dict]:
            order = creation.create_order(tenant, style_ids=fields.pop("styles"), **fields)
            return 0, {"order_id": str(order.id)}

        body = _once(tenant, "CreateOrder", request, create)
        return order_message(selectors.order_status(tenant, body["order_id"]))

    @calls.answer()
    def GetOrder(self, tenant, request, context):
        return order_message(selectors.order_status(tenant, parse_order_name(request.name)))

    @calls.answer()
    def ListOrders(self, tenant, request, context):
        orders = selectors.list_orders(tenant)
        rows, next_token = paging.page(orders, request.page_size, request.page_token, "orders")
        return pb.ListOrdersResponse(
            orders=[order_message(order_representation(order)) for order in rows],
            next_page_token=next_token,
            total_size=orders.count(),
        )

    @calls.answer()
    def DeleteOrder(self, tenant, request, context):
        order = selectors.get_order(tenant, parse_order_name(request.name))
        return receipt_message(retention.delete_order(order))

    @calls.answer(slot=True)
    def UploadPhotos(self, tenant, request_iterator, context):
        messages = iter(request_iterator)
        first = next(messages, None)
        if first is None:
            raise InvalidArgument("no_files", "the stream carried no photos")
        order = selectors.get_order(tenant, parse_order_name(first.parent, "parent"))
        photos.check_backlog()
        outcomes = photos.add_photos(order, self._capped_uploads(str(order.id), itertools.chain([first], messages)))
        # The thread waits idle for the checker's verdicts (bounded), within the call's own deadline.
        remaining = context.time_remaining()
        wait_s = CONFIG.verdict_wait_s if remaining is None else max(0.0, min(CONFIG.verdict_wait_s, remaining - 1))
        results = []
        for outcome in photos.await_verdicts(outcomes, wait_s):
            rejection, state = photos.verdict(outcome), photos.result_state(outcome)
            results.append(
                pb.PhotoResult(
                    filename=outcome.filename,
                    accepted=rejection is None,
                    photo_id=str(outcome.photo.id) if outcome.photo and state != "rejected" else "",
                    reason_code=rejection.code if rejection else "",
                    message=rejection.message if rejection else "",
                    state=f"STATE_{state.upper()}",
                )
            )
        return pb.UploadPhotosResponse(results=results, accepted=sum(r.accepted for r in results))

    @calls.answer()
    def DeletePhoto(self, tenant, request, context):
        order_id, photo_id = parse_photo_name(request.name)
        order = selectors.get_order(tenant, order_id)
        photos.delete_photo(order, selectors.get_photo(order, photo_id).id)
        return empty_pb2.Empty()

    @staticmethod
    def _capped_uploads(order_id: str, messages) -> Iterator[tuple[str, bytes]]:
        """(filename, content) of each message as it arrives, refusing a stream over the caps while it streams."""
        files = total_bytes = 0
        for message in messages:
            if message.parent and parse_order_name(message.parent, "parent") != order_id:
                raise InvalidArgument(
                    "invalid_argument",
                    "every message of the stream names the same parent (or none after the first)",
                    details={"fields": {"parent": ["changed within the stream"]}},
                )
            files, total_bytes = files + 1, total_bytes + len(message.content)
            if files > CONFIG.max_upload_files:
                raise PayloadTooLarge(
                    "too_many_files",
                    f"one upload carries at most {CONFIG.max_upload_files} photos",
                    details={"limit": CONFIG.max_upload_files},
                )
            if total_bytes > CONFIG.max_upload_bytes:
                raise PayloadTooLarge(
                    "upload_too_large",
                    f"one upload carries at most {CONFIG.max_upload_bytes // (1024 * 1024)} MB",
                    details={"limit_bytes": CONFIG.max_upload_bytes},
                )
            yield message.filename, message.content

    @calls.answer()
    def AcceptOrder(self, tenant, request, context):
        order = retention.accept_delivery(selectors.get_order(tenant, parse_order_name(request.name)))
        return order_message(order_representation(order))

    @calls.answer()
    def SubmitOrder(self, tenant, request, context):
        order = creation.submit_order(selectors.get_order(tenant, parse_order_name(request.name)))
        return operation_message(order_representation(order))

    @calls.server_stream
    def WatchOrder(self, tenant, request, context):
        order_id = parse_order_name(request.name)
        last, started = None, time.monotonic()
        while context.is_active():
            order = selectors.order_status(tenant, order_id)
            message = order_message(order)
            if message != last:
                yield pb.WatchOrderResponse(order=message)
                last = message
            remaining = context.time_remaining()
            out_of_time = remaining is not None and remaining < WATCH_POLL_S * 2
            if order["state"] in _FINAL or out_of_time or time.monotonic() - started > WATCH_MAX_S:
                return  # a watch ends cleanly before the caller's deadline cuts it
            time.sleep(WATCH_POLL_S)

    # -- headshots ---------------------------------------------------------------------------------------------
    @calls.answer()
    def ListHeadshots(self, tenant, request, context):
        order = selectors.get_order(tenant, parse_order_name(request.parent, "parent"))
        if request.style_id:
            validated(HeadshotListQuery, {"style": request.style_id}, {"style": "style_id"})
        sort = HEADSHOT_ORDER_BY.get(" ".join(request.order_by.split()))
        if sort is None:
            raise InvalidArgument(
                "invalid_argument",
                f"order_by must be one of {sorted(k for k in HEADSHOT_ORDER_BY if k)}",
                details={"fields": {"order_by": ["unknown ordering"]}},
            )
        query = f"{request.parent} {request.style_id} {sort}"
        headshots = selectors.list_headshots(order, style_id=request.style_id or None, sort=sort)
        rows, next_token = paging.page(headshots, request.page_size, request.page_token, query)
        return pb.ListHeadshotsResponse(
            headshots=[headshot_message(h) for h in rows], next_page_token=next_token, total_size=headshots.count()
        )

    @calls.answer()
    def GetOrderReport(self, tenant, request, context):
        order = selectors.get_order(tenant, parse_order_name(request.name))
        return report_message(order_name(order.id), quality.report(order))

    @calls.answer()
    def GetHeadshot(self, tenant, request, context):
        return headshot_message(self._headshot(tenant, request.name))

    @calls.server_stream
    def DownloadHeadshot(self, tenant, request, context):
        headshot = self._headshot(tenant, request.name)
        # Read from the store on every download: no copy of a headshot is kept on the gateway's disk.
        data = blob_store().get(headshot.blob_key)
        yield from downloads.resumable(data, "image/png", pb.DownloadHeadshotResponse, request.read_offset)

    @calls.server_stream
    def DownloadHeadshotArchive(self, tenant, request, context):
        order = selectors.get_order(tenant, parse_order_name(request.parent, "parent"))
        with selectors.headshots_zip(order, blob_store()) as archive:
            data = archive.read()
        yield from downloads.chunks(data, "application/zip", pb.DownloadHeadshotArchiveResponse)

    @staticmethod
    def _headshot(tenant, name: str):
        order_id, headshot_id = parse_headshot_name(name)
        return selectors.get_headshot(selectors.get_order(tenant, order_id), headshot_id)

    # -- renders, styles, webhooks -----------------------------------------------------------------------------
    @calls.answer()
    def CreateRender(self, tenant, request, context):
        fields = validated(
            RenderCreateInput,
            {"style": request.style_id, "count": request.count},
            {"style": "style_id", "count": "count"},
        )
        order = selectors.get_order(tenant, parse_order_name(request.parent, "parent"))

        def create() -> tuple[int, dict]:
            return 0, {"render_id": str(creation.request_render(order, fields["style"], fields["count"]).id)}

        body = _once(tenant, "CreateRender", request, create)
        return render_message(order.render_requests.get(pk=body["render_id"]))

    @calls.answer(public=True)
    def ListStyles(self, tenant, request, context):
        return pb.ListStylesResponse(styles=[style_message(s) for s in STYLES.values()])

    @calls.answer()
    def ListWebhookDeliveries(self, tenant, request, context):
        order = selectors.get_order(tenant, parse_order_name(request.parent, "parent"))
        return pb.ListWebhookDeliveriesResponse(
            webhook_deliveries=[delivery_message(d) for d in deliveries_for_order(tenant, order.id)]
        )

    # -- API keys ----------------------------------------------------------------------------------------------
    @calls.answer()
    def ListApiKeys(self, tenant, request, context):
        keys = account_selectors.keys_of(tenant)
        rows, next_token = paging.page(keys, request.page_size, request.page_token, "apiKeys")
        current = account_services.hash_key(calls.caller_key(context))
        return pb.ListApiKeysResponse(
            api_keys=[api_key_message(key, key.key_hash == current) for key in rows],
            next_page_token=next_token,
            total_size=keys.count(),
        )

    @calls.answer()
    def DeleteApiKey(self, tenant, request, context):
        key = account_services.revoke_token(tenant, parse_api_key_name(request.name))
        return api_key_message(key, key.key_hash == account_services.hash_key(calls.caller_key(context)))

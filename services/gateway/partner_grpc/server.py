"""The gRPC partner API: the same service layer as REST, mapped to gRPC status codes."""

from __future__ import annotations

import functools
import logging
import time
from concurrent import futures

import grpc
from django.db import close_old_connections
from google.protobuf import any_pb2, duration_pb2, timestamp_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from accounts.authentication import bearer_token
from accounts.selectors import tenant_for_key
from gateway.errors import ApiError
from headshots.v1 import common_pb2, partner_api_pb2 as pb, partner_api_pb2_grpc as pb_grpc
from orders import selectors, services
from orders.models import Order

log = logging.getLogger(__name__)

_STATUS_BY_HTTP = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    422: grpc.StatusCode.FAILED_PRECONDITION,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
}
_STATE_ENUM = {state.value: pb.OrderState.Value(f"ORDER_STATE_{state.name}") for state in Order.State}
WATCH_POLL_S = 0.5


def _timestamp(dt) -> timestamp_pb2.Timestamp | None:
    if dt is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(dt)
    return ts


def order_message(order: Order) -> pb.Order:
    return pb.Order(
        order_id=str(order.id), state=_STATE_ENUM[order.state], package=order.package, style_ids=order.style_ids,
        progress=pb.OrderProgress(stage=order.progress_stage, percent=order.progress_percent,
                                  eta_seconds=order.eta_seconds or 0.0),
        photos_accepted=order.photos_accepted, headshots_ready=order.headshots_ready,
        failure_reason=order.failure_reason, create_time=_timestamp(order.created_at),
        update_time=_timestamp(order.updated_at),
    )


def _abort(context, exc: ApiError):
    """Abort with the gRPC code for the error, its machine-readable code in ErrorInfo, and rich details."""
    code = _STATUS_BY_HTTP.get(exc.status_code, grpc.StatusCode.INTERNAL)
    details = [error_details_pb2.ErrorInfo(reason=exc.error_code, domain="headshots.v1")]
    fields = exc.details.get("fields") if isinstance(exc.details, dict) else None
    if code == grpc.StatusCode.INVALID_ARGUMENT and fields:
        details.append(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=name, description="; ".join(map(str, problems)))
            for name, problems in fields.items()]))
    retry_after = exc.headers.get("Retry-After")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and retry_after:
        details.append(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=int(retry_after))))
    packed = []
    for detail in details:
        any_detail = any_pb2.Any()
        any_detail.Pack(detail)
        packed.append(any_detail)
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=f"{exc.error_code}: {exc.detail}",
                               details=packed)
    context.abort_with_status(rpc_status.to_status(status))


def rpc(method):
    """Authenticate from metadata, give the method the tenant, turn ApiErrors into gRPC statuses."""

    @functools.wraps(method)
    def wrapper(self, request, context):
        close_old_connections()
        token = bearer_token(dict(context.invocation_metadata()).get("authorization", ""))
        tenant = tenant_for_key(token) if token else None
        if tenant is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid `authorization: Bearer <key>` metadata")
        try:
            return method(self, tenant, request, context)
        except ApiError as exc:
            _abort(context, exc)

    return wrapper


class PartnerService(pb_grpc.PartnerServiceServicer):
    @rpc
    def CreateOrder(self, tenant, request, context):
        if not request.package or not request.style_ids:
            missing = {name: ["required"] for name in ("package", "style_ids") if not getattr(request, name)}
            raise ApiError("invalid_argument", "package and style_ids are required", http_status=400,
                           details={"fields": missing})
        order = services.create_order(
            tenant, package=request.package, style_ids=list(request.style_ids),
            retention_hours=request.retention_hours or 24, webhook_url=request.webhook_url,
            request_id=request.request_id,
        )
        return pb.CreateOrderResponse(order=order_message(order))

    @rpc
    def UploadPhotos(self, tenant, request_iterator, context):
        order, uploads = None, []
        for message in request_iterator:
            if order is None:
                if not message.order_id:
                    raise ApiError("invalid_argument", "the first message must name order_id", http_status=400,
                                   details={"fields": {"order_id": ["required on the first message"]}})
                order = selectors.get_order(tenant, message.order_id)
            uploads.append((message.filename, message.content))
        if order is None:
            raise ApiError("no_files", "the stream carried no photos", http_status=400)
        results = [pb.PhotoResult(
            filename=o.filename, accepted=o.photo is not None, photo_id=str(o.photo.id) if o.photo else "",
            reason_code=o.rejection.code if o.rejection else "", message=o.rejection.message if o.rejection else "",
        ) for o in services.add_photos(order, uploads)]
        return pb.UploadPhotosResponse(results=results)

    @rpc
    def SubmitOrder(self, tenant, request, context):
        order = services.submit_order(selectors.get_order(tenant, request.order_id))
        return pb.SubmitOrderResponse(order=order_message(order))

    @rpc
    def GetOrder(self, tenant, request, context):
        return pb.GetOrderResponse(order=order_message(selectors.get_order(tenant, request.order_id)))

    @rpc
    def WatchOrder(self, tenant, request, context):
        last = None
        while context.is_active():
            close_old_connections()
            order = selectors.get_order(tenant, request.order_id)
            message = order_message(order)
            if message != last:
                yield pb.WatchOrderResponse(order=message)
                last = message
            if order.state in Order.FINAL_STATES:
                return
            time.sleep(WATCH_POLL_S)

    @rpc
    def ListHeadshots(self, tenant, request, context):
        order = selectors.get_order(tenant, request.order_id)
        page_size = min(max(request.page_size or 50, 1), 200)
        offset = int(request.page_token or 0)
        rows = list(selectors.list_headshots(order)[offset:offset + page_size + 1])
        headshots = [
            common_pb2.Headshot(key=f"/v1/orders/{order.id}/headshots/{h.id}.png", style_id=h.style_id, seed=h.seed,
                                width=h.width, height=h.height, likeness_score=h.likeness_score)
            for h in rows[:page_size]
        ]
        next_token = str(offset + page_size) if len(rows) > page_size else ""
        return pb.ListHeadshotsResponse(headshots=headshots, next_page_token=next_token)


    @rpc
    def DeleteOrder(self, tenant, request, context):
        order = selectors.get_order(tenant, request.order_id)
        services.delete_order(order)
        return pb.DeleteOrderResponse(order=order_message(selectors.get_order(tenant, order.id)))


def build_server(port: int, host: str = "127.0.0.1", max_workers: int = 16) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers))
    pb_grpc.add_PartnerServiceServicer_to_server(PartnerService(), server)
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("headshots.v1.PartnerService", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if server.add_insecure_port(f"{host}:{port}") == 0:
        raise RuntimeError(f"cannot listen on {host}:{port}: the port is taken")
    return server

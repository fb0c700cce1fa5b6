"""The gRPC partner API: the same service layer as REST; domain errors become gRPC statuses (`status`)."""

from __future__ import annotations

import functools
import logging
import time
from concurrent import futures

import grpc
from django.db import close_old_connections
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from accounts.authentication import bearer_token
from accounts.selectors import tenant_for_key
from gateway.errors import DomainError, InvalidArgument
from headshots.v1 import common_pb2, partner_api_pb2 as pb, partner_api_pb2_grpc as pb_grpc
from orders import policy, selectors
from orders.models import Order
from orders.representation import headshot_download_path, order_representation
from orders.services import creation, photos, retention
from partner_grpc import status
from partner_grpc.messages import order_message

log = logging.getLogger(__name__)

WATCH_POLL_S = 0.5
_FINAL_STATES = set(Order.FINAL_STATES)  # TextChoices members equal their values


def rpc(method):
    """Authenticate from metadata, give the method the tenant, turn domain errors into gRPC statuses."""

    @functools.wraps(method)
    def wrapper(self, request, context):
        close_old_connections()
        token = bearer_token(dict(context.invocation_metadata()).get("authorization", ""))
        tenant = tenant_for_key(token) if token else None
        if tenant is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid `authorization: Bearer <key>` metadata")
        try:
            return method(self, tenant, request, context)
        except DomainError as exc:
            status.abort(context, exc)

    return wrapper


class PartnerService(pb_grpc.PartnerServiceServicer):
    @rpc
    def CreateOrder(self, tenant, request, context):
        if not request.package or not request.style_ids:
            missing = {name: ["required"] for name in ("package", "style_ids") if not getattr(request, name)}
            raise InvalidArgument("invalid_argument", "package and style_ids are required", details={"fields": missing})
        order = creation.create_order(
            tenant,
            package=request.package,
            style_ids=list(request.style_ids),
            retention_hours=request.retention_hours or policy.DEFAULT_RETENTION_HOURS,
            webhook_url=request.webhook_url,
            request_id=request.request_id,
        )
        return pb.CreateOrderResponse(order=order_message(order_representation(order)))

    @rpc
    def UploadPhotos(self, tenant, request_iterator, context):
        order, uploads = None, []
        for message in request_iterator:
            if order is None:
                if not message.order_id:
                    raise InvalidArgument(
                        "invalid_argument",
                        "the first message must name order_id",
                        details={"fields": {"order_id": ["required on the first message"]}},
                    )
                order = selectors.get_order(tenant, message.order_id)
            uploads.append((message.filename, message.content))
        if order is None:
            raise InvalidArgument("no_files", "the stream carried no photos")
        results = [
            pb.PhotoResult(
                filename=o.filename,
                accepted=o.photo is not None,
                photo_id=str(o.photo.id) if o.photo else "",
                reason_code=o.rejection.code if o.rejection else "",
                message=o.rejection.message if o.rejection else "",
            )
            for o in photos.add_photos(order, uploads)
        ]
        return pb.UploadPhotosResponse(results=results)

    @rpc
    def SubmitOrder(self, tenant, request, context):
        order = creation.submit_order(selectors.get_order(tenant, request.order_id))
        return pb.SubmitOrderResponse(order=order_message(order_representation(order)))

    @rpc
    def GetOrder(self, tenant, request, context):
        return pb.GetOrderResponse(order=order_message(selectors.order_status(tenant, request.order_id)))

    @rpc
    def WatchOrder(self, tenant, request, context):
        last = None
        while context.is_active():
            close_old_connections()
            order = selectors.order_status(tenant, request.order_id)
            message = order_message(order)
            if message != last:
                yield pb.WatchOrderResponse(order=message)
                last = message
            if order["state"] in _FINAL_STATES:
                return
            time.sleep(WATCH_POLL_S)

    @rpc
    def ListHeadshots(self, tenant, request, context):
        order = selectors.get_order(tenant, request.order_id)
        page_size = min(max(request.page_size or 50, 1), 200)
        offset = int(request.page_token or 0)
        rows = list(selectors.list_headshots(order)[offset : offset + page_size + 1])
        headshots = [
            common_pb2.Headshot(
                key=headshot_download_path(h),
                style_id=h.style_id,
                seed=h.seed,
                width=h.width,
                height=h.height,
                likeness_score=h.likeness_score,
            )
            for h in rows[:page_size]
        ]
        next_token = str(offset + page_size) if len(rows) > page_size else ""
        return pb.ListHeadshotsResponse(headshots=headshots, next_page_token=next_token)

    @rpc
    def DeleteOrder(self, tenant, request, context):
        order = selectors.get_order(tenant, request.order_id)
        retention.delete_order(order)
        return pb.DeleteOrderResponse(order=order_message(selectors.order_status(tenant, order.id)))


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

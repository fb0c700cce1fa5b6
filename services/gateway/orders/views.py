"""Thin REST views: parse input, call a service or selector, shape the output."""

from django.http import FileResponse, HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services as accounts
from gateway.config import CONFIG
from gateway.errors import ApiError
from gateway.throttling import OrderCreateThrottle, TenantRateThrottle
from headshots_common.styles import STYLES
from orders import selectors, services
from orders.idempotency import idempotent
from orders.photo_checks import Rejection
from orders.serializers import (
    DeletionReceiptOutput, ErrorOutput, HeadshotOutput, HeadshotPageOutput, OrderCreateInput, OrderOutput,
    PhotoUploadInput, PhotoUploadOutput, RenderCreateInput, RenderOutput, SignupInput, StyleListOutput, TokenInput,
    TokenOutput, WebhookDeliveryListOutput, WebhookDeliveryOutput, order_representation, photo_result,
)
from webhooks.selectors import deliveries_for_order

ERRORS = {code: OpenApiResponse(ErrorOutput) for code in (400, 401, 404, 409, 422, 429)}


def _order_response(request, order_id, http_status=status.HTTP_200_OK) -> Response:
    return Response(order_representation(selectors.get_order(request.user.tenant, order_id)), status=http_status)


class OrderListView(APIView):
    throttle_classes = [TenantRateThrottle, OrderCreateThrottle]

    @extend_schema(request=OrderCreateInput, responses={201: OrderOutput, **ERRORS}, parameters=[
        OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER,
                         description="Retries with the same key and body return the first response.")])
    def post(self, request):
        tenant = request.user.tenant

        def create():
            data = OrderCreateInput(data=request.data)
            data.is_valid(raise_exception=True)
            fields = dict(data.validated_data)
            order = services.create_order(tenant, style_ids=fields.pop("styles"), **fields)
            return _order_response(request, order.id, status.HTTP_201_CREATED)

        return idempotent(request, tenant, create)


class OrderDetailView(APIView):
    @extend_schema(responses={200: OrderOutput, **ERRORS})
    def get(self, request, order_id):
        return HttpResponse(selectors.order_status_json(request.user.tenant, order_id), content_type="application/json")

    @extend_schema(responses={200: DeletionReceiptOutput, **ERRORS},
                   description="Purge photos, adapter and headshots everywhere; returns the deletion receipt.")
    def delete(self, request, order_id):
        receipt = services.delete_order(selectors.get_order(request.user.tenant, order_id))
        return Response(DeletionReceiptOutput(receipt).data)


class OrderPhotosView(APIView):
    @extend_schema(request={"multipart/form-data": PhotoUploadInput},
                   responses={201: PhotoUploadOutput, 422: PhotoUploadOutput, **ERRORS})
    def post(self, request, order_id):
        order = selectors.get_order(request.user.tenant, order_id)
        files = [f for key in request.FILES for f in request.FILES.getlist(key)]
        if not files:
            raise ApiError("no_files", "send one or more photos as multipart/form-data files", http_status=400)
        uploads, oversized = [], []
        for f in files:
            if f.size > CONFIG.max_photo_bytes:  # refused unread: a huge upload never reaches memory
                oversized.append(f.name)
            else:
                uploads.append((f.name, f.read()))
        outcomes = services.add_photos(order, uploads) if uploads else []
        results = [photo_result(o) for o in outcomes] + [photo_result(services.PhotoOutcome(name, rejection=Rejection(
            "file_too_large", f"The file is larger than {CONFIG.max_photo_bytes // (1024 * 1024)} MB; send a smaller photo.")))
            for name in oversized]
        accepted = sum(r["accepted"] for r in results)
        code = status.HTTP_201_CREATED if accepted else status.HTTP_422_UNPROCESSABLE_ENTITY
        return Response({"results": results, "accepted": accepted}, status=code)


class OrderSubmitView(APIView):
    @extend_schema(request=None, responses={202: OrderOutput, **ERRORS})
    def post(self, request, order_id):
        order = services.submit_order(selectors.get_order(request.user.tenant, order_id))
        return _order_response(request, order.id, status.HTTP_202_ACCEPTED)


class HeadshotPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


class HeadshotListView(APIView):
    @extend_schema(responses={200: HeadshotPageOutput, **ERRORS}, parameters=[
        OpenApiParameter("style", str, description="only this style"),
        OpenApiParameter("limit", int), OpenApiParameter("offset", int)])
    def get(self, request, order_id):
        order = selectors.get_order(request.user.tenant, order_id)
        headshots = selectors.list_headshots(order, style_id=request.query_params.get("style") or None)
        paginator = HeadshotPagination()
        page = paginator.paginate_queryset(headshots, request, view=self)
        return paginator.get_paginated_response(HeadshotOutput(page, many=True).data)


class HeadshotDownloadView(APIView):
    @extend_schema(responses={(200, "image/png"): OpenApiResponse(description="the PNG"), **ERRORS})
    def get(self, request, order_id, headshot_id):
        order = selectors.get_order(request.user.tenant, order_id)
        headshot = selectors.get_headshot(order, headshot_id)
        path = services.blob_store().local_path(headshot.blob_key)
        return FileResponse(open(path, "rb"), content_type="image/png", filename=f"{headshot.id}.png")


class HeadshotZipView(APIView):
    @extend_schema(responses={(200, "application/zip"): OpenApiResponse(description="every headshot"), **ERRORS})
    def get(self, request, order_id):
        order = selectors.get_order(request.user.tenant, order_id)
        archive = selectors.headshots_zip(order, services.blob_store())
        return FileResponse(archive, content_type="application/zip", as_attachment=True,
                            filename=f"headshots-{order.id}.zip")


class RenderListView(APIView):
    @extend_schema(request=RenderCreateInput, responses={202: RenderOutput, **ERRORS})
    def post(self, request, order_id):
        data = RenderCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = selectors.get_order(request.user.tenant, order_id)

        def create():
            render = services.request_render(order, data.validated_data["style"], data.validated_data["count"])
            return Response(RenderOutput(render).data, status=status.HTTP_202_ACCEPTED)

        return idempotent(request, request.user.tenant, create)


class WebhookDeliveryListView(APIView):
    @extend_schema(responses={200: WebhookDeliveryListOutput, **ERRORS})
    def get(self, request, order_id):
        order = selectors.get_order(request.user.tenant, order_id)
        deliveries = deliveries_for_order(request.user.tenant, order.id)
        return Response({"results": WebhookDeliveryOutput(deliveries, many=True).data})


class StyleListView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses={200: StyleListOutput})
    def get(self, request):
        return Response({"results": [
            {"id": s.id, "name": s.name, "backdrop": s.backdrop, "attire": s.attire, "lighting": s.lighting}
            for s in STYLES.values()
        ]})


class SignupView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(request=SignupInput, responses={201: TokenOutput, **ERRORS})
    def post(self, request):
        data = SignupInput(data=request.data)
        data.is_valid(raise_exception=True)
        tenant, token = accounts.sign_up_consumer(**data.validated_data)
        return Response({"token": token, "tenant_id": tenant.id}, status=status.HTTP_201_CREATED)


class TokenView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(request=TokenInput, responses={200: TokenOutput, **ERRORS})
    def post(self, request):
        data = TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        tenant, token = accounts.token_for_consumer(**data.validated_data)
        return Response({"token": token, "tenant_id": tenant.id})

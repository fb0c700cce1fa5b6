"""Thin REST views: parse input, call a service or selector, shape the output."""

from urllib.parse import urlencode

from django.http import FileResponse, HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.blobs import blob_store
from gateway.config import CONFIG
from gateway.errors import InvalidArgument
from gateway.rest_errors import ERROR_RESPONSES
from gateway.throttling import OrderCreateThrottle, TenantRateThrottle
from headshots_common.styles import STYLES
from orders import quality, selectors
from orders.idempotency import idempotent
from orders.photo_checks import Rejection
from orders.representation import order_representation
from orders.serializers import (
    DeletionReceiptOutput,
    HeadshotListQuery,
    HeadshotOutput,
    HeadshotPageOutput,
    OrderCreateInput,
    OrderListQuery,
    OrderOutput,
    OrderPageOutput,
    PhotoUploadInput,
    PhotoUploadOutput,
    QualityReportOutput,
    RenderCreateInput,
    RenderOutput,
    StyleListOutput,
    StyleOutput,
    photo_result,
)
from orders.services import creation, photos, retention


def _order_response(request, order_id, http_status=status.HTTP_200_OK) -> Response:
    return Response(order_representation(selectors.get_order(request.user.tenant, order_id)), status=http_status)


def _page(request, count: int, limit: int, offset: int, results: list, **params) -> Response:
    """A limit/offset page with links to its neighbours."""

    def link(at: int) -> str:
        query = {"limit": limit, "offset": at, **{k: v for k, v in params.items() if v}}
        return request.build_absolute_uri(f"{request.path}?{urlencode(query)}")

    return Response(
        {
            "count": count,
            "next": link(offset + limit) if offset + limit < count else None,
            "previous": link(max(0, offset - limit)) if offset else None,
            "results": results,
        }
    )


class OrderListView(APIView):
    throttle_classes = [TenantRateThrottle, OrderCreateThrottle]

    def get_throttles(self):
        # Listing is an ordinary read: only creating counts against the order-creation rate.
        return [TenantRateThrottle()] if self.request.method == "GET" else super().get_throttles()

    @extend_schema(responses={200: OrderPageOutput, **ERROR_RESPONSES}, parameters=[OrderListQuery])
    def get(self, request):
        query = OrderListQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        limit, offset = query.validated_data["limit"], query.validated_data["offset"]
        orders = selectors.list_orders(request.user.tenant)
        results = [order_representation(order) for order in orders[offset : offset + limit]]
        return _page(request, orders.count(), limit, offset, results)

    @extend_schema(
        request=OrderCreateInput,
        responses={201: OrderOutput, **ERROR_RESPONSES},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Retries with the same key and body return the first response.",
            )
        ],
    )
    def post(self, request):
        tenant = request.user.tenant

        def create():
            data = OrderCreateInput(data=request.data)
            data.is_valid(raise_exception=True)
            fields = dict(data.validated_data)
            order = creation.create_order(tenant, style_ids=fields.pop("styles"), **fields)
            return _order_response(request, order.id, status.HTTP_201_CREATED)

        return idempotent(request, tenant, create)


class OrderDetailView(APIView):
    @extend_schema(responses={200: OrderOutput, **ERROR_RESPONSES})
    def get(self, request, order_id):
        return HttpResponse(selectors.order_status_json(request.user.tenant, order_id), content_type="application/json")

    @extend_schema(
        responses={200: DeletionReceiptOutput, **ERROR_RESPONSES},
        description="Purge photos, adapter and headshots everywhere; returns the deletion receipt.",
    )
    def delete(self, request, order_id):
        receipt = retention.delete_order(selectors.get_order(request.user.tenant, order_id))
        return Response(DeletionReceiptOutput(receipt).data)


class OrderPhotosView(APIView):
    @extend_schema(
        request={"multipart/form-data": PhotoUploadInput},
        # 422 here is a verdict on the photos (every one rejected), in the same shape as 201.
        responses={**ERROR_RESPONSES, 201: PhotoUploadOutput, 422: PhotoUploadOutput},
    )
    def post(self, request, order_id):
        order = selectors.get_order(request.user.tenant, order_id)
        files = [f for key in request.FILES for f in request.FILES.getlist(key)]
        # Files over the per-photo cap were skipped unread while the upload streamed in (gateway.limits).
        oversized = getattr(request, "skipped_uploads", [])
        if not files and not oversized:
            raise InvalidArgument("no_files", "send one or more photos as multipart/form-data files")
        uploads = ((f.name, f.read()) for f in files)  # read one at a time, as add_photos takes them
        outcomes = photos.add_photos(order, uploads) if files else []
        too_large = Rejection(
            "file_too_large",
            f"The file is larger than {CONFIG.max_photo_bytes // (1024 * 1024)} MB; send a smaller photo.",
        )
        outcomes += [photos.PhotoOutcome(name, rejection=too_large) for name in oversized]
        results = [photo_result(o) for o in outcomes]
        accepted = sum(r["accepted"] for r in results)
        code = status.HTTP_201_CREATED if accepted else status.HTTP_422_UNPROCESSABLE_ENTITY
        return Response({"results": results, "accepted": accepted}, status=code)


class OrderSubmitView(APIView):
    @extend_schema(request=None, responses={202: OrderOutput, **ERROR_RESPONSES})
    def post(self, request, order_id):
        order = creation.submit_order(selectors.get_order(request.user.tenant, order_id))
        return _order_response(request, order.id, status.HTTP_202_ACCEPTED)


class HeadshotListView(APIView):
    @extend_schema(responses={200: HeadshotPageOutput, **ERROR_RESPONSES}, parameters=[HeadshotListQuery])
    def get(self, request, order_id):
        query = HeadshotListQuery(data=request.query_params.dict())  # a dict: "?style=" is a value, not absent
        query.is_valid(raise_exception=True)
        style, sort, limit, offset = (query.validated_data.get(k) for k in ("style", "sort", "limit", "offset"))
        order = selectors.get_order(request.user.tenant, order_id)
        headshots = selectors.list_headshots(order, style_id=style, sort=sort)
        page = HeadshotOutput(headshots[offset : offset + limit], many=True).data
        return _page(
            request, headshots.count(), limit, offset, page, style=style, sort=sort if sort != "created" else None
        )


class OrderReportView(APIView):
    @extend_schema(
        responses={200: QualityReportOutput, **ERROR_RESPONSES},
        description="What the renderer generated, rejected (by reason) and delivered, and the delivered scores.",
    )
    def get(self, request, order_id):
        return Response(quality.report(selectors.get_order(request.user.tenant, order_id)))


class HeadshotDownloadView(APIView):
    @extend_schema(responses={(200, "image/png"): OpenApiResponse(description="the PNG"), **ERROR_RESPONSES})
    def get(self, request, order_id, headshot_id):
        order = selectors.get_order(request.user.tenant, order_id)
        headshot = selectors.get_headshot(order, headshot_id)
        # Read from the store on every download: no copy of a headshot is kept on the gateway's disk.
        response = HttpResponse(blob_store().get(headshot.blob_key), content_type="image/png")
        response["Content-Disposition"] = f'inline; filename="{headshot.id}.png"'
        return response


class HeadshotZipView(APIView):
    @extend_schema(
        responses={(200, "application/zip"): OpenApiResponse(description="every headshot"), **ERROR_RESPONSES}
    )
    def get(self, request, order_id):
        order = selectors.get_order(request.user.tenant, order_id)
        archive = selectors.headshots_zip(order, blob_store())
        return FileResponse(
            archive, content_type="application/zip", as_attachment=True, filename=f"headshots-{order.id}.zip"
        )


class RenderListView(APIView):
    @extend_schema(request=RenderCreateInput, responses={202: RenderOutput, **ERROR_RESPONSES})
    def post(self, request, order_id):
        data = RenderCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = selectors.get_order(request.user.tenant, order_id)

        def create():
            render = creation.request_render(order, data.validated_data["style"], data.validated_data["count"])
            return Response(RenderOutput(render).data, status=status.HTTP_202_ACCEPTED)

        return idempotent(request, request.user.tenant, create)


class StyleListView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(responses={200: StyleListOutput})
    def get(self, request):
        return Response({"results": StyleOutput(STYLES.values(), many=True).data})

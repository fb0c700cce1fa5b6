"""Thin REST views: parse input, call a service or selector, shape the output."""

from urllib.parse import urlencode

from django.http import FileResponse, HttpResponse, JsonResponse, QueryDict
from django.utils.datastructures import MultiValueDict
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Empty
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.blobs import blob_store
from gateway.byte_ranges import file_response
from gateway.config import CONFIG
from gateway.errors import DomainError, InvalidArgument
from gateway.limits import CappedUploadHandler, JSONParser
from gateway.rest_errors import ERROR_RESPONSES, envelope, http_status
from gateway.throttling import OrderCreateThrottle, TenantRateThrottle
from headshots_common.styles import STYLES
from orders import quality, selectors
from orders.idempotency import idempotent
from orders.photo_checks import Rejection
from orders.quarantine import QuarantineUploadHandler
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
    PhotoListOutput,
    PhotoOutput,
    PhotoUploadInput,
    PhotoUploadOutput,
    QualityReportOutput,
    RenderCreateInput,
    RenderOutput,
    StyleListOutput,
    StyleOutput,
    UploadsInput,
    UploadsOutput,
    photo_result,
    upload_slot,
)
from orders.services import creation, direct_uploads, photos, retention


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


def _respond_async(request) -> bool:
    """`Prefer: respond-async` (RFC 7240): answer as soon as the photos are received, without their verdicts."""
    return any(p.strip().lower() == "respond-async" for p in request.headers.get("Prefer", "").split(","))


class OrderPhotosView(APIView):
    def initial(self, request, *args, **kwargs):
        """A session's CSRF check reads `request.POST`, which would parse the multipart body with the default upload
        handlers before `post` can stream it into quarantine: the check sees an empty form and takes the token from
        the X-CSRFToken header (the studio sends it), and the body is parsed once, by `post`."""
        if request.method != "POST":
            return super().initial(request, *args, **kwargs)
        request._data, request._files = QueryDict(), MultiValueDict()
        request._full_data = request._data
        try:
            super().initial(request, *args, **kwargs)
        finally:
            request._data = request._files = request._full_data = Empty  # DRF's "not parsed yet"

    @extend_schema(responses={200: PhotoListOutput, **ERROR_RESPONSES})
    def get(self, request, order_id):
        order = selectors.get_order(request.user.tenant, order_id)
        results = selectors.photo_summaries(order)
        return Response({"count": len(results), "results": results})

    @extend_schema(
        request={"multipart/form-data": PhotoUploadInput},
        parameters=[
            OpenApiParameter(
                "Prefer",
                str,
                OpenApiParameter.HEADER,
                description="respond-async: answer 202 once the photos are received, each with its status URL",
            )
        ],
        # 422 here is a verdict on the photos (every one rejected), in the same shape as 201 and 202.
        responses={**ERROR_RESPONSES, 201: PhotoUploadOutput, 202: PhotoUploadOutput, 422: PhotoUploadOutput},
    )
    def post(self, request, order_id):
        """Each file streams into the order's quarantine area; the photo checker gives the verdicts, which this
        call waits for (at most HEADSHOTS_VERDICT_WAIT_S, the thread idle) unless the client prefers not to."""
        order = selectors.get_order(request.user.tenant, order_id)
        photos.check_backlog()
        handler = QuarantineUploadHandler(request, order)
        request._request.upload_handlers = [CappedUploadHandler(request._request), handler]
        try:
            files = [f for key in request.FILES for f in request.FILES.getlist(key)]
            # Files over the per-photo cap were skipped unread while the upload streamed in (gateway.limits).
            oversized = getattr(request, "skipped_uploads", [])
            if not files and not oversized and not handler.outcomes:
                raise InvalidArgument("no_files", "send one or more photos as multipart/form-data files")
            photos.discard(handler.leftovers())
            handler.mark_received()
        except BaseException:
            handler.abort()
            raise
        outcomes = handler.outcomes
        too_large = Rejection(
            "file_too_large",
            f"The file is larger than {CONFIG.max_photo_bytes // (1024 * 1024)} MB; send a smaller photo.",
        )
        outcomes += [photos.PhotoOutcome(name, rejection=too_large) for name in oversized]
        if _respond_async(request):
            code = status.HTTP_202_ACCEPTED
        else:
            outcomes = photos.await_verdicts(outcomes, CONFIG.verdict_wait_s)
        results = [photo_result(o) for o in outcomes]
        accepted = sum(r["accepted"] for r in results)
        if not _respond_async(request):
            kept = any(r["state"] != "rejected" for r in results)
            code = status.HTTP_201_CREATED if kept else status.HTTP_422_UNPROCESSABLE_ENTITY
        return Response({"results": results, "accepted": accepted}, status=code)


class PhotoDetailView(APIView):
    @extend_schema(responses={200: PhotoOutput, **ERROR_RESPONSES}, description="A photo and its verdict.")
    def get(self, request, order_id, photo_id):
        order = selectors.get_order(request.user.tenant, order_id)
        return Response(selectors.get_photo(order, photo_id).summary())

    @extend_schema(
        responses={204: None, **ERROR_RESPONSES},
        description="Remove a photo (its upload, its stored copy) from an order that still takes photos.",
    )
    def delete(self, request, order_id, photo_id):
        order = selectors.get_order(request.user.tenant, order_id)
        photos.delete_photo(order, selectors.get_photo(order, photo_id).id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrderUploadsView(APIView):
    parser_classes = [JSONParser]  # a list of files, not a form

    @extend_schema(
        request=UploadsInput,
        responses={201: UploadsOutput, **ERROR_RESPONSES},
        description="Upload URLs, one per photo: the bytes go straight to the store (S3: a form POST with `fields`; "
        "locally: PUT to the gateway's upload receiver), then POST `complete_url` (the local receiver completes "
        "by itself). Each URL takes one photo of at most the announced size until `expires_at`.",
    )
    def post(self, request, order_id):
        data = UploadsInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = selectors.get_order(request.user.tenant, order_id)
        slots = direct_uploads.create_slots(order, data.validated_data["files"])
        return Response({"uploads": [upload_slot(s) for s in slots]}, status=status.HTTP_201_CREATED)


class UploadCompleteView(APIView):
    @extend_schema(
        request=None,
        responses={202: PhotoOutput, **ERROR_RESPONSES},
        description="The photo's bytes are uploaded: queue its check (completing again changes nothing).",
    )
    def post(self, request, order_id, photo_id):
        order = selectors.get_order(request.user.tenant, order_id)
        photo = direct_uploads.complete(order, selectors.get_photo(order, photo_id).id)
        return Response(photo.summary(), status=status.HTTP_202_ACCEPTED)


@csrf_exempt
def receive_upload(request, token):
    """The upload receiver (`gateway-uploads` alone serves it): PUT a photo's bytes to the URL its slot was given.
    The signed URL is the credential; the body streams into quarantine, never through a worker that serves reads."""
    if request.method != "PUT":
        return JsonResponse(envelope("method_not_allowed", "PUT the photo's bytes"), status=405)
    length = request.META.get("CONTENT_LENGTH")
    try:
        photo = direct_uploads.receive(token, request, int(length) if length else None)
    except DomainError as error:
        return JsonResponse(envelope(error.code, error.message, error.details), status=http_status(error))
    return JsonResponse(photo.summary(), status=201)


class OrderSubmitView(APIView):
    @extend_schema(request=None, responses={202: OrderOutput, **ERROR_RESPONSES})
    def post(self, request, order_id):
        order = creation.submit_order(selectors.get_order(request.user.tenant, order_id))
        return _order_response(request, order.id, status.HTTP_202_ACCEPTED)


class OrderAcceptView(APIView):
    @extend_schema(
        request=None,
        responses={200: OrderOutput, **ERROR_RESPONSES},
        description="Accept a delivery short of its headshots as it is: the retention clock starts now.",
    )
    def post(self, request, order_id):
        order = retention.accept_delivery(selectors.get_order(request.user.tenant, order_id))
        return _order_response(request, order.id)


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
    @extend_schema(
        responses={
            (200, "image/png"): OpenApiResponse(description="the PNG"),
            (206, "image/png"): OpenApiResponse(description="the part of the PNG asked for by Range"),
            **ERROR_RESPONSES,
            416: ERROR_RESPONSES[400],  # the error envelope: a Range past the file's end
        },
        description="The PNG, with its SHA-256 as `ETag` and `Repr-Digest`; `Range: bytes=N-` (with `If-Range`) "
        "resumes a download.",
    )
    def get(self, request, order_id, headshot_id):
        order = selectors.get_order(request.user.tenant, order_id)
        headshot = selectors.get_headshot(order, headshot_id)
        # Read from the store on every download: no copy of a headshot is kept on the gateway's disk.
        return file_response(request, blob_store().get(headshot.blob_key), "image/png", f"{headshot.id}.png")


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

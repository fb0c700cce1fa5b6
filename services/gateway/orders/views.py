"""Thin REST views: parse input, call a service or selector, shape the output."""

from django.http import FileResponse
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.errors import ApiError
from headshots_common.styles import STYLES
from orders import selectors, services
from orders.serializers import HeadshotOutput, OrderCreateInput, OrderOutput, PhotoResultOutput, photo_result


class OrderListView(APIView):
    def post(self, request):
        data = OrderCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        order = services.create_order(request.user.tenant, style_ids=fields.pop("styles"), **fields)
        return Response(OrderOutput(selectors.get_order(request.user.tenant, order.id)).data, status=status.HTTP_201_CREATED)


class OrderDetailView(APIView):
    def get(self, request, order_id):
        return Response(OrderOutput(selectors.get_order(request.user.tenant, order_id)).data)


class OrderPhotosView(APIView):
    def post(self, request, order_id):
        order = selectors.get_order(request.user.tenant, order_id)
        files = [f for key in request.FILES for f in request.FILES.getlist(key)]
        if not files:
            raise ApiError("no_files", "send one or more photos as multipart/form-data files", http_status=400)
        results = [photo_result(services.add_photo(order, f.name, f.read())) for f in files]
        accepted = sum(r["accepted"] for r in results)
        code = status.HTTP_201_CREATED if accepted else status.HTTP_422_UNPROCESSABLE_ENTITY
        return Response({"results": PhotoResultOutput(results, many=True).data, "accepted": accepted}, status=code)


class OrderSubmitView(APIView):
    def post(self, request, order_id):
        order = services.submit_order(selectors.get_order(request.user.tenant, order_id))
        return Response(OrderOutput(selectors.get_order(request.user.tenant, order.id)).data, status=status.HTTP_202_ACCEPTED)


class HeadshotListView(APIView):
    def get(self, request, order_id):
        order = selectors.get_order(request.user.tenant, order_id)
        headshots = HeadshotOutput(selectors.list_headshots(order), many=True).data
        return Response({"results": headshots, "count": len(headshots)})


class HeadshotDownloadView(APIView):
    def get(self, request, order_id, headshot_id):
        order = selectors.get_order(request.user.tenant, order_id)
        headshot = selectors.get_headshot(order, headshot_id)
        path = services.blob_store().local_path(headshot.blob_key)
        return FileResponse(open(path, "rb"), content_type="image/png", filename=f"{headshot.id}.png")


class StyleListView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request):
        return Response({"results": [
            {"id": s.id, "name": s.name, "backdrop": s.backdrop, "attire": s.attire, "lighting": s.lighting}
            for s in STYLES.values()
        ]})

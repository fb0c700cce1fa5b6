"""Every webhook sent for an order, with each attempt: thin views over webhooks.selectors."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.rest_errors import ERROR_RESPONSES
from orders.selectors import get_order
from webhooks.selectors import deliveries_for_order
from webhooks.serializers import WebhookDeliveryListOutput, WebhookDeliveryOutput


class WebhookDeliveryListView(APIView):
    @extend_schema(responses={200: WebhookDeliveryListOutput, **ERROR_RESPONSES})
    def get(self, request, order_id):
        order = get_order(request.user.tenant, order_id)
        deliveries = deliveries_for_order(request.user.tenant, order.id)
        return Response({"results": WebhookDeliveryOutput(deliveries, many=True).data})

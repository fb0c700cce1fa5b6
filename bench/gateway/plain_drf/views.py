"""What a textbook DRF endpoint costs: stock token authentication against the gateway's API key model, the stock
IsAuthenticated permission, one ORM read of one order row, the stock JSON renderer. No throttling, no cache,
none of the gateway's own code paths: the floor that GET /v1/orders/{id} is compared with."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import Principal
from accounts.models import ApiKey
from accounts.services import hash_key
from orders.models import Order


class PlainKeyAuthentication(TokenAuthentication):
    """DRF's TokenAuthentication with the gateway's `Bearer` keyword; keys are stored hashed, so the lookup hashes."""

    keyword = "Bearer"

    def authenticate_credentials(self, key):
        keys = ApiKey.objects.select_related("tenant")
        api_key = keys.filter(key_hash=hash_key(key), revoked_at__isnull=True).first()
        if api_key is None or not api_key.active:
            raise exceptions.AuthenticationFailed("invalid or revoked API key")
        return Principal(api_key.tenant), api_key


class PlainOrderView(APIView):
    authentication_classes = [PlainKeyAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes: list[type] = []

    def get(self, request, order_id):
        row = (
            Order.objects.filter(pk=order_id, tenant=request.user.tenant)
            .values("id", "state", "progress_stage", "progress_percent", "eta_seconds", "updated_at")
            .first()
        )
        if row is None:
            raise exceptions.NotFound("order")
        return Response(row)

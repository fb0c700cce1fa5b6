"""Consumer sign-up and sign-in: thin views over accounts.services."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.models import ApiKey
from accounts.serializers import SignupInput, TokenInfoOutput, TokenInput, TokenListOutput, TokenOutput
from gateway.rest_errors import ERROR_RESPONSES


def _token_info(key: ApiKey, request) -> dict:
    current = services.hash_key(request.auth or "") == key.key_hash
    return TokenInfoOutput(
        {
            **{f: getattr(key, f) for f in ("prefix", "kind", "created_at", "expires_at", "revoked_at", "active")},
            "current": current,
        }
    ).data


class SignupView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(request=SignupInput, responses={201: TokenOutput, **ERROR_RESPONSES})
    def post(self, request):
        data = SignupInput(data=request.data)
        data.is_valid(raise_exception=True)
        tenant, token = services.sign_up_consumer(**data.validated_data)
        return Response(TokenOutput({"token": token, "tenant_id": tenant.id}).data, status=status.HTTP_201_CREATED)


class TokenView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(request=TokenInput, responses={200: TokenOutput, **ERROR_RESPONSES})
    def post(self, request):
        data = TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        tenant, token = services.token_for_consumer(**data.validated_data)
        return Response(TokenOutput({"token": token, "tenant_id": tenant.id}).data)


class TokenListView(APIView):
    @extend_schema(
        responses={200: TokenListOutput, **ERROR_RESPONSES},
        description="Your API keys and personal tokens (signed-in devices), newest first.",
    )
    def get(self, request):
        return Response({"results": [_token_info(key, request) for key in selectors.keys_of(request.user.tenant)]})


class TokenDetailView(APIView):
    @extend_schema(
        responses={200: TokenInfoOutput, **ERROR_RESPONSES},
        description="Revoke one of your keys or tokens (sign out): it stops working in every process at once.",
    )
    def delete(self, request, prefix):
        return Response(_token_info(services.revoke_token(request.user.tenant, prefix), request))

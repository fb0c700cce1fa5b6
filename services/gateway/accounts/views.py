"""Consumer sign-up and sign-in: thin views over accounts.services."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.serializers import SignupInput, TokenInput, TokenOutput
from gateway.rest_errors import ERROR_RESPONSES


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

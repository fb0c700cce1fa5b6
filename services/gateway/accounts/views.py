"""Consumer sign-up, e-mail verification, sign-in and password reset; keys and tokens: thin views over
accounts.services. The anonymous endpoints are limited per client address (`AuthRateThrottle`)."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.models import ApiKey
from accounts.serializers import (
    LinkTokenInput,
    PasswordResetConfirmInput,
    PasswordResetInput,
    SignupInput,
    StatusOutput,
    TokenInfoOutput,
    TokenInput,
    TokenListOutput,
    TokenOutput,
)
from gateway.client_address import client_address
from gateway.rest_errors import ERROR_RESPONSES
from gateway.throttling import AuthRateThrottle

VERIFICATION_SENT = {
    "status": "verification_sent",
    "message": "We sent an e-mail to this address: follow its link to verify it and sign in.",
}
RESET_SENT = {
    "status": "reset_sent",
    "message": "We sent an e-mail to this address: if it has an account, the e-mail has a link to set a new password.",
}


def _token_info(key: ApiKey, request) -> dict:
    current = services.hash_key(request.auth or "") == key.key_hash
    return TokenInfoOutput(
        {
            **{f: getattr(key, f) for f in ("prefix", "kind", "created_at", "expires_at", "revoked_at", "active")},
            "current": current,
        }
    ).data


class AnonymousAccountView(APIView):
    """No credentials; every call counts against the client address's account-endpoint rate."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [AuthRateThrottle]


class SignupView(AnonymousAccountView):
    @extend_schema(
        request=SignupInput,
        responses={202: StatusOutput, **ERROR_RESPONSES},
        description="Sign up as a consumer. The answer is the same whether or not the address has an account: a new "
        "address gets an e-mail with a verification link (`POST /v1/auth/verify` with its token gives a personal "
        "token), an address with an account an e-mail saying someone tried to sign up.",
    )
    def post(self, request):
        data = SignupInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.sign_up_consumer(**data.validated_data)
        return Response(StatusOutput(VERIFICATION_SENT).data, status=status.HTTP_202_ACCEPTED)


class VerifyEmailView(AnonymousAccountView):
    @extend_schema(
        request=LinkTokenInput,
        responses={200: TokenOutput, **ERROR_RESPONSES},
        description="Verify the e-mail address with the token of the link e-mailed at sign-up, and sign in: a personal "
        "token. The link works once and expires (400 `invalid_link`).",
    )
    def post(self, request):
        data = LinkTokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        tenant = services.verify_email(data.validated_data["token"])
        token = services.issue_api_key(tenant, ApiKey.Kind.PERSONAL_TOKEN)
        return Response(TokenOutput({"token": token, "tenant_id": tenant.id}).data)


class ResendVerificationView(APIView):
    @extend_schema(
        request=None,
        responses={202: StatusOutput, **ERROR_RESPONSES},
        description="E-mail the verification link again to the signed-in consumer "
        "(409 `email_already_verified`, or `no_email` for a partner).",
    )
    def post(self, request):
        services.resend_verification(request.user.tenant)
        return Response(StatusOutput(VERIFICATION_SENT).data, status=status.HTTP_202_ACCEPTED)


class TokenView(AnonymousAccountView):
    @extend_schema(
        request=TokenInput,
        responses={200: TokenOutput, **ERROR_RESPONSES},
        description="Sign in: a personal token. Failed tries back off per client address and per account "
        "(429 `rate_limited` with Retry-After). Works before the e-mail is verified; submitting an order does not.",
    )
    def post(self, request):
        data = TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        tenant, token = services.token_for_consumer(**data.validated_data, client_address=client_address(request))
        return Response(TokenOutput({"token": token, "tenant_id": tenant.id}).data)


class PasswordResetView(AnonymousAccountView):
    @extend_schema(
        request=PasswordResetInput,
        responses={202: StatusOutput, **ERROR_RESPONSES},
        description="E-mail a link to set a new password. The answer is the same whether or not the address has an "
        "account.",
    )
    def post(self, request):
        data = PasswordResetInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.request_password_reset(data.validated_data["email"])
        return Response(StatusOutput(RESET_SENT).data, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(AnonymousAccountView):
    @extend_schema(
        request=PasswordResetConfirmInput,
        responses={200: StatusOutput, **ERROR_RESPONSES},
        description="Set a new password with the token of the reset link (it works once, expires, and dies when the "
        "password changes: 400 `invalid_link`). Every personal token of the account is revoked.",
    )
    def post(self, request):
        data = PasswordResetConfirmInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.reset_password(data.validated_data["token"], data.validated_data["password"])
        message = "Your password is changed and every device is signed out: sign in with the new one."
        return Response(StatusOutput({"status": "password_changed", "message": message}).data)


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

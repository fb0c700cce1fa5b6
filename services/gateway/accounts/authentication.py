"""`Authorization: Bearer <key>` for REST; the same lookup serves gRPC metadata."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions

from accounts.models import Tenant
from accounts.selectors import tenant_for_key


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: DRF puts it in request.user."""

    tenant: Tenant
    is_authenticated: bool = True


def bearer_token(header: str) -> str | None:
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        token = bearer_token(header)
        tenant = tenant_for_key(token) if token else None
        if tenant is None:
            raise exceptions.AuthenticationFailed("invalid or revoked API key")
        return Principal(tenant), token

    def authenticate_header(self, request):
        return 'Bearer realm="headshots"'

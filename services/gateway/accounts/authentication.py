"""`Authorization: Bearer <key>` for REST (the same lookup serves gRPC metadata), and the web studio's session."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions

from accounts.models import Tenant
from accounts.selectors import consumer_for_session, tenant_for_key
from headshots_common import logs

# Where a studio session keeps the signed-in consumer's tenant id.
SESSION_TENANT_KEY = "studio_tenant"


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
        logs.set_tenant(str(tenant.id))
        return Principal(tenant), token

    def authenticate_header(self, request):
        return 'Bearer realm="headshots"'


class StudioSession(authentication.SessionAuthentication):
    """The web studio's pages call the API with their session cookie, and must send the CSRF token."""

    def authenticate(self, request):
        session = getattr(request._request, "session", None)
        tenant = consumer_for_session(session.get(SESSION_TENANT_KEY)) if session is not None else None
        if tenant is None:
            return None
        self.enforce_csrf(request)
        logs.set_tenant(str(tenant.id))
        return Principal(tenant), None

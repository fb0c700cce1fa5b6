"""`Authorization: Bearer <key>` for REST (the same lookup serves gRPC metadata), and the web studio's session."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework import authentication, exceptions

from accounts.models import Tenant
from accounts.selectors import consumer_for_session, tenant_for_key
from headshots_common import logs

# Where a studio session keeps the signed-in consumer's tenant id, and a digest of the password it signed in with.
SESSION_TENANT_KEY = "studio_tenant"
SESSION_PASSWORD_KEY = "studio_password"


def _password_digest(tenant: Tenant) -> str:
    return salted_hmac("accounts.authentication.session", tenant.password_hash).hexdigest()


def start_session(session, tenant: Tenant) -> None:
    """Sign the studio session in as `tenant`, under a new session id (a planted one is worthless)."""
    session.cycle_key()
    session[SESSION_TENANT_KEY] = str(tenant.pk)
    session[SESSION_PASSWORD_KEY] = _password_digest(tenant)


def session_consumer(session) -> Tenant | None:
    """The consumer a studio session is signed in as; None when it is not, the account is gone, or its password
    changed since (a password reset signs every session out, as it revokes every token)."""
    if session is None:
        return None
    tenant = consumer_for_session(session.get(SESSION_TENANT_KEY))
    if tenant is None or not constant_time_compare(session.get(SESSION_PASSWORD_KEY, ""), _password_digest(tenant)):
        return None
    return tenant


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
        tenant = session_consumer(getattr(request._request, "session", None))
        if tenant is None:
            return None
        self.enforce_csrf(request)
        logs.set_tenant(str(tenant.id))
        return Principal(tenant), None

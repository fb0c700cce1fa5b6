"""The one-time, expiring links the account e-mails carry: verify an address, reset a password.

A link's token is signed and timestamped (`django.core.signing.TimestampSigner`), so it cannot be made up and it
expires; it names the account and a digest of what following the link changes (when the address was verified,
the password hash), so it works once, and a reset link also dies when the password changes any other way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.core import signing
from django.core.exceptions import ValidationError
from django.utils.crypto import constant_time_compare, salted_hmac

from accounts.models import Tenant
from gateway.config import CONFIG


@dataclass(frozen=True)
class LinkKind:
    salt: str
    max_age_s: int
    studio_path: str  # the page the link opens
    state: Callable[[Tenant], str]  # what using the link changes

    def _digest(self, tenant: Tenant) -> str:
        return salted_hmac(self.salt, self.state(tenant)).hexdigest()[:32]

    def token(self, tenant: Tenant) -> str:
        return signing.TimestampSigner(salt=self.salt).sign_object({"t": str(tenant.pk), "s": self._digest(tenant)})

    def url(self, tenant: Tenant, next_path: str = "") -> str:
        """The link; with `next_path`, the studio page it goes on to once used (e.g. the team invitation that
        brought the person to sign up)."""
        query = {"token": self.token(tenant), **({"next": next_path} if next_path else {})}
        return f"{CONFIG.public_url.rstrip('/')}{self.studio_path}?{urlencode(query)}"

    def consumer(self, token: str) -> Tenant | None:
        """The consumer a valid, unexpired, unused token names; None for any other token."""
        try:
            claims = signing.TimestampSigner(salt=self.salt).unsign_object(token, max_age=self.max_age_s)
            tenant = Tenant.objects.filter(pk=claims["t"], kind=Tenant.Kind.CONSUMER).first()
        except (signing.BadSignature, ValidationError, ValueError, KeyError, TypeError):
            return None
        if tenant is None or not constant_time_compare(claims.get("s", ""), self._digest(tenant)):
            return None
        return tenant


VERIFY_EMAIL = LinkKind(
    salt="accounts.links.verify-email",
    max_age_s=3 * 24 * 3600,
    studio_path="/studio/verify",
    state=lambda tenant: f"{tenant.email}|{tenant.email_verified_at}",
)
RESET_PASSWORD = LinkKind(
    salt="accounts.links.reset-password",
    max_age_s=3600,
    studio_path="/studio/reset/new",
    state=lambda tenant: f"{tenant.email}|{tenant.password_hash}",
)

"""REST's rate limits (429 with Retry-After), counted by `gateway.ratelimit` as gRPC's and the studio's are.

Signed-in callers are limited per tenant; anonymous ones per client address (`gateway.client_address`, which
believes X-Forwarded-For only from trusted proxies). The anonymous account endpoints (sign-in, sign-up, e-mail
verification, password reset) have their own, much lower rate per address (HEADSHOTS_AUTH_RATE_LIMIT).
"""

from rest_framework.throttling import SimpleRateThrottle

from gateway import ratelimit
from gateway.client_address import client_address
from gateway.config import CONFIG

AUTH_SCOPE = "auth"


def auth_key(request) -> str:
    """The counter of the anonymous account endpoints, per client address (REST and studio pages alike)."""
    return ratelimit.key(AUTH_SCOPE, ratelimit.address_ident(client_address(request)))


def check_auth_rate(request) -> None:
    """Count one call to an anonymous account endpoint; raises ResourceExhausted (`rate_limited`) over the rate."""
    ratelimit.check(auth_key(request), CONFIG.auth_rate_limit)


class TenantRateThrottle(SimpleRateThrottle):
    scope = "tenant"

    def get_cache_key(self, request, view):
        principal = getattr(request, "user", None)
        ident = str(principal.tenant.pk) if principal else ratelimit.address_ident(client_address(request))
        return ratelimit.key(self.scope, ident)

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self._wait = ratelimit.hit(self.get_cache_key(request, view), self.rate)
        return self._wait is None

    def wait(self):
        return self._wait


class OrderCreateThrottle(TenantRateThrottle):
    scope = "order_create"


class AuthRateThrottle(TenantRateThrottle):
    """The anonymous account endpoints: before any password is hashed or any e-mail sent."""

    scope = AUTH_SCOPE

    def get_rate(self):
        return CONFIG.auth_rate_limit

    def get_cache_key(self, request, view):
        return auth_key(request)

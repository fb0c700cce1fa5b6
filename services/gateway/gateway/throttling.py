"""REST's per-partner rate limits (429 with Retry-After), counted by `gateway.ratelimit` as gRPC's are.

Anonymous callers are limited per client address.
"""

from rest_framework.throttling import SimpleRateThrottle

from gateway import ratelimit


class TenantRateThrottle(SimpleRateThrottle):
    scope = "tenant"

    def get_cache_key(self, request, view):
        principal = getattr(request, "user", None)
        ident = str(principal.tenant.pk) if principal else f"ip:{self.get_ident(request)}"
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

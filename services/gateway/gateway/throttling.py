"""Per-tenant rate limits (429 with Retry-After); anonymous callers are limited per client address."""

from rest_framework.throttling import SimpleRateThrottle


class TenantRateThrottle(SimpleRateThrottle):
    scope = "tenant"

    def get_cache_key(self, request, view):
        principal = getattr(request, "user", None)
        ident = f"tenant:{principal.tenant.pk}" if principal else f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class OrderCreateThrottle(TenantRateThrottle):
    scope = "order_create"

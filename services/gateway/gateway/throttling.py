"""Per-tenant rate limits (429 with Retry-After); anonymous callers are limited per client address.

A fixed-window counter: one atomic increment per request (Redis INCR in the
cluster), where DRF's default keeps and re-pickles a list of every request
time in the window.
"""

from time import time as now_s

from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle


class TenantRateThrottle(SimpleRateThrottle):
    scope = "tenant"

    def get_cache_key(self, request, view):
        principal = getattr(request, "user", None)
        ident = f"tenant:{principal.tenant.pk}" if principal else f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = now_s()
        window_start = int(now // self.duration * self.duration)
        window_key = f"{key}:{window_start}"
        # One atomic increment in the common case; the window's first request creates the counter.
        try:
            count = cache.incr(window_key)
        except ValueError:
            count = 1 if cache.add(window_key, 1, timeout=self.duration + 1) else cache.incr(window_key)
        self._wait = window_start + self.duration - now
        return count <= self.num_requests

    def wait(self):
        return max(0.0, getattr(self, "_wait", 0.0))


class OrderCreateThrottle(TenantRateThrottle):
    scope = "order_create"

"""Per-partner rate limits, one counter for REST and gRPC: a fixed window, one atomic increment per call.

The counters live in the cache every gateway process shares (Redis in the cluster), so a partner's limit
holds across processes and protocols. REST answers 429 with Retry-After (`throttling`), gRPC
RESOURCE_EXHAUSTED with RetryInfo; both name the code `rate_limited`.
"""

from __future__ import annotations

import math
from time import time as now_s

from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from gateway.errors import ResourceExhausted


def parse_rate(rate: str) -> tuple[int, int]:
    """(requests, seconds) of a rate such as "1200/min", as DRF reads it."""
    requests, seconds = SimpleRateThrottle.parse_rate(None, rate)  # needs no state
    return requests, seconds


def key(scope: str, ident) -> str:
    """The counter a caller's calls count under in REST, gRPC and the studio alike: `scope` ("tenant",
    "order_create") and the tenant's id, or `ip:<address>` before anyone signed in."""
    return f"{scope}:{ident}"


def hit(key: str, rate: str) -> float | None:
    """Count one call against `key`; None while within `rate`, else the seconds until the window ends."""
    requests, seconds = parse_rate(rate)
    now = now_s()
    window_start = int(now // seconds * seconds)
    window_key = f"ratelimit:{key}:{window_start}"
    # One atomic increment in the common case; the window's first call creates the counter.
    try:
        count = cache.incr(window_key)
    except ValueError:
        count = 1 if cache.add(window_key, 1, timeout=seconds + 1) else cache.incr(window_key)
    return None if count <= requests else max(0.0, window_start + seconds - now)


def check(key: str, rate: str) -> None:
    """`hit`, raising ResourceExhausted (`rate_limited`) over the rate."""
    wait = hit(key, rate)
    if wait is not None:
        raise ResourceExhausted(
            "rate_limited", f"more than {rate} requests; slow down", retry_after_s=max(1, math.ceil(wait))
        )

"""Rate limits, one counter for REST, gRPC and the studio: a fixed window, one atomic increment per call; and the
back-off that guards tries which may fail (sign-ins).

The counters live in the cache every gateway process shares (Redis in the cluster), so a limit holds across
processes and protocols. REST answers 429 with Retry-After (`throttling`), gRPC RESOURCE_EXHAUSTED with RetryInfo,
the studio its 429 page; all name the code `rate_limited`.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from dataclasses import dataclass
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
    "order_create", "auth") and the tenant's id, or `address_ident(...)` before anyone signed in."""
    return f"{scope}:{ident}"


def address_ident(address: str) -> str:
    """Who an anonymous caller is, for `key`: its address (`gateway.client_address`)."""
    return f"ip:{address}"


def private_ident(text: str) -> str:
    """An ident for personal data (an e-mail address): counted under a digest, so the cache holds no address."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _incr(counter: str, timeout: float) -> int:
    """Add one to `counter` atomically, creating it (expiring after `timeout` s) on its first use."""
    try:
        return cache.incr(counter)
    except ValueError:
        return 1 if cache.add(counter, 1, timeout=math.ceil(timeout)) else cache.incr(counter)


def _decr(counter: str) -> None:
    with contextlib.suppress(ValueError):  # expired meanwhile: nothing left to take back
        cache.decr(counter)


def hit(key: str, rate: str) -> float | None:
    """Count one call against `key`; None while within `rate`, else the seconds until the window ends."""
    requests, seconds = parse_rate(rate)
    now = now_s()
    window_start = int(now // seconds * seconds)
    count = _incr(f"ratelimit:{key}:{window_start}", seconds + 1)
    return None if count <= requests else max(0.0, window_start + seconds - now)


def _refusal(message: str, wait_s: float) -> ResourceExhausted:
    return ResourceExhausted("rate_limited", message, retry_after_s=max(1, math.ceil(wait_s)))


def check(key: str, rate: str) -> None:
    """`hit`, raising ResourceExhausted (`rate_limited`) over the rate."""
    wait = hit(key, rate)
    if wait is not None:
        raise _refusal(f"more than {rate} requests; slow down", wait)


# Failures are forgotten this long after the first one (unless a success forgets them sooner).
FAILURE_MEMORY_S = 24 * 3600


@dataclass(frozen=True)
class Try:
    """A try `Backoff.begin` let through: counted as failed until `Backoff.reset` or `Backoff.release` says not."""

    ident: str
    holds_window: bool  # it opened a back-off window, which holds every other try until it ends


@dataclass(frozen=True)
class Backoff:
    """Tries that may fail: after `after` failures each further try opens a window in which no other try may start;
    the window is `base_s` long and doubles with each failure, up to `max_s`.

    A try counts as failed from the moment it begins, before the work it guards (a password hash) is done, and a
    success takes that back. So tries running at once in many processes cannot slip past the count: exactly
    `after` of them run, then one per window.
    """

    scope: str
    after: int
    base_s: float
    max_s: float

    def _keys(self, ident: str) -> tuple[str, str]:
        return f"backoff:{self.scope}:{ident}:failures", f"backoff:{self.scope}:{ident}:until"

    def begin(self, ident: str) -> Try:
        """Let one try start, or raise ResourceExhausted (`rate_limited`) with the seconds left to wait."""
        failures_key, until_key = self._keys(ident)
        now = now_s()
        until = cache.get(until_key)
        if until is not None and until > now:
            raise _refusal("too many failed tries; wait before trying again", until - now)
        failures = _incr(failures_key, FAILURE_MEMORY_S)
        if failures < self.after:
            return Try(ident, holds_window=False)
        window = min(self.max_s, self.base_s * 2 ** (failures - self.after))
        if cache.add(until_key, now + window, timeout=math.ceil(window)):
            return Try(ident, holds_window=True)
        _decr(failures_key)  # another try holds the window: this one never ran
        until = cache.get(until_key)
        raise _refusal("too many failed tries; wait before trying again", (until or now + window) - now)

    def release(self, attempt: Try) -> None:
        """The try did not fail (or never ran): take its count back, and its window if it opened one."""
        failures_key, until_key = self._keys(attempt.ident)
        _decr(failures_key)
        if attempt.holds_window:
            cache.delete(until_key)

    def reset(self, ident: str) -> None:
        """Forget every failure of `ident` (a successful sign-in to the account)."""
        cache.delete_many(list(self._keys(ident)))

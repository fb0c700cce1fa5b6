"""Retries that are safe by construction: a call is retried only when the server did not act on it (it answered
503 or 429, or nobody answered a call that is idempotent), with exponential backoff and full jitter, and a server's
`Retry-After` (REST) or `RetryInfo` (gRPC) is honoured over the client's own guess. Calls that create something
carry one idempotency key for every attempt (`Idempotency-Key`, `request_id`), so a retry never creates twice."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from headshots_client.errors import ConnectionFailed, HeadshotsError, ResourceExhausted, Unavailable

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 20.0
    # A server that asks for a longer wait than this (a monthly quota) gets its error raised, not a sleeping client.
    max_retry_after_s: float = 60.0

    def delay_s(self, attempt: int, error: HeadshotsError) -> float | None:
        """How long to wait before attempt `attempt + 1`, or None when `error` is not worth another attempt."""
        if attempt >= self.max_attempts:
            return None
        retry_after = getattr(error, "retry_after_s", None)
        if isinstance(error, ResourceExhausted) and retry_after is None:
            return None  # a quota or a size, not a wait
        if not isinstance(error, Unavailable | ResourceExhausted | ConnectionFailed):
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after_s else None
        return random.uniform(0, min(self.max_backoff_s, self.initial_backoff_s * 2 ** (attempt - 1)))


NO_RETRIES = RetryPolicy(max_attempts=1)


def with_retries(
    call: Callable[[], T], policy: RetryPolicy, *, idempotent: bool, sleep: Callable[[float], None] = time.sleep
) -> T:
    """`call()` until it succeeds or the policy gives up. A call that is not idempotent is retried only when the
    server answered that it did not act (503, 429): after a lost answer it may have."""
    attempt = 1
    while True:
        try:
            return call()
        except HeadshotsError as error:
            delay = policy.delay_s(attempt, error)
            if delay is None or (isinstance(error, ConnectionFailed) and not idempotent):
                raise
        sleep(delay)
        attempt += 1

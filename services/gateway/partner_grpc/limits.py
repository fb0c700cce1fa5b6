"""Bounds on long calls: streams hold a server thread each, so their number is capped, in all and per partner.

Over a cap, a call is answered at once with RESOURCE_EXHAUSTED (`too_many_streams`) and a RetryInfo; the
threads kept free answer every short call (and the health check) meanwhile.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator

from gateway.errors import ResourceExhausted

RETRY_AFTER_S = 5


class StreamLimiter:
    def __init__(self, max_streams: int, max_streams_per_tenant: int):
        self.max_streams, self.max_streams_per_tenant = max_streams, max_streams_per_tenant
        self._lock = threading.Lock()
        self._open: Counter[int] = Counter()

    @contextlib.contextmanager
    def slot(self, tenant_id: int) -> Iterator[None]:
        with self._lock:
            if self._open[tenant_id] >= self.max_streams_per_tenant:
                raise self._refusal(f"this partner has {self.max_streams_per_tenant} streams open, the most allowed")
            if self._open.total() >= self.max_streams:
                raise self._refusal("the server has as many streams open as it serves; try again shortly")
            self._open[tenant_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._open[tenant_id] -= 1
                if not self._open[tenant_id]:
                    del self._open[tenant_id]

    def open_streams(self) -> int:
        with self._lock:
            return self._open.total()

    @staticmethod
    def _refusal(message: str) -> ResourceExhausted:
        return ResourceExhausted("too_many_streams", message, retry_after_s=RETRY_AFTER_S)

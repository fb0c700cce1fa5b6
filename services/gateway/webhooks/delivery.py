"""The worker's webhook senders: a pool of threads, filled with what `services.claim_due` hands this worker.

The claim is fair across destinations and keeps the caps per host and per tenant over every worker, so one
endpoint that answers slowly (or not at all, until the timeout) holds at most its host's share of the senders,
and every other destination keeps the rest: its webhooks go out at once.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections

from gateway.config import CONFIG
from webhooks import services
from webhooks.models import WebhookDelivery

log = logging.getLogger(__name__)


class DeliveryPool:
    def __init__(self, senders: int | None = None, per_host: int | None = None, per_tenant: int | None = None):
        self.senders = senders or CONFIG.webhook_senders
        self.per_host = per_host or CONFIG.webhook_per_host
        self.per_tenant = per_tenant or CONFIG.webhook_per_tenant
        self._executor = ThreadPoolExecutor(max_workers=self.senders, thread_name_prefix="webhook")
        self._lock = threading.Lock()
        self._in_flight = 0
        self._sent = threading.Event()  # a sender finished: there may be room for the next delivery

    def start_due(self) -> int:
        """Claim as many due deliveries as there are free senders (fewer where destinations are at their caps)."""
        with self._lock:
            free = self.senders - self._in_flight
        if free <= 0:
            return 0
        claimed = services.claim_due(free, self.per_host, self.per_tenant)
        with self._lock:
            self._in_flight += len(claimed)
        for delivery in claimed:
            self._executor.submit(self._send, delivery)
        return len(claimed)

    def _send(self, delivery: WebhookDelivery) -> None:
        try:
            services.attempt(delivery)
        except Exception:  # the attempt could not be recorded: the claim runs out, and the next records it lost
            log.exception("webhook %s: the attempt could not be recorded", delivery.id)
        finally:
            close_old_connections()
            with self._lock:
                self._in_flight -= 1
            self._sent.set()

    def wait(self, timeout_s: float) -> None:
        """Until a sender finishes (room for more), or `timeout_s` (new deliveries may have come due)."""
        self._sent.wait(timeout_s)
        self._sent.clear()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

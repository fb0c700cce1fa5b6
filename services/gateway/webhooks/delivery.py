"""The worker's webhook senders: a pool of threads, with a cap on deliveries in flight per destination.

One endpoint that answers slowly (or not at all, until the timeout) holds at most `per_destination`
senders; every other destination keeps the rest, so its webhooks go out at once.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections

from gateway.config import CONFIG
from webhooks import services
from webhooks.models import WebhookDelivery

log = logging.getLogger(__name__)


class DeliveryPool:
    def __init__(self, senders: int | None = None, per_destination: int | None = None):
        self.senders = senders or CONFIG.webhook_senders
        self.per_destination = per_destination or CONFIG.webhook_per_destination
        self._executor = ThreadPoolExecutor(max_workers=self.senders, thread_name_prefix="webhook")
        self._lock = threading.Lock()
        self._in_flight: Counter[str] = Counter()
        self._sent = threading.Event()  # a sender finished: there may be room for the next delivery

    def start_due(self) -> int:
        """Claim as many due deliveries as there are free senders, none to a destination at its cap."""
        with self._lock:
            free = self.senders - self._in_flight.total()
            busy = Counter(self._in_flight)
        if free <= 0:
            return 0
        claimed = services.claim_due(free, busy, self.per_destination)
        for delivery in claimed:
            with self._lock:
                self._in_flight[services.destination_of(delivery.url)] += 1
            self._executor.submit(self._send, delivery)
        return len(claimed)

    def _send(self, delivery: WebhookDelivery) -> None:
        try:
            services.attempt(delivery)
        except Exception:  # recorded nowhere: the claim runs out and the delivery is attempted again
            log.exception("webhook %s could not be attempted", delivery.id)
        finally:
            close_old_connections()
            with self._lock:
                destination = services.destination_of(delivery.url)
                self._in_flight[destination] -= 1
                if not self._in_flight[destination]:
                    del self._in_flight[destination]
            self._sent.set()

    def wait(self, timeout_s: float) -> None:
        """Until a sender finishes (room for more), or `timeout_s` (new deliveries may have come due)."""
        self._sent.wait(timeout_s)
        self._sent.clear()

    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight.total()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

"""The gateway's metrics and its request log line.

gateway-web runs several gunicorn workers: their metrics are collected in PROMETHEUS_MULTIPROC_DIR and served
by the gunicorn master (gateway.gunicorn_conf). gateway-worker and gateway-grpc serve their own.
"""

from __future__ import annotations

import logging
import time

from django.db.models import Min
from django.utils import timezone
from prometheus_client import Counter, Gauge, Histogram

from headshots_common import logs
from headshots_common.metrics import LATENCY_BUCKETS

access_log = logging.getLogger("gateway.access")

HTTP_SECONDS = Histogram(
    "http_server_request_duration_seconds",
    "Time to answer an HTTP request, by route (the URL pattern), method and status code",
    ["http_route", "http_request_method", "http_response_status_code"],
    buckets=LATENCY_BUCKETS,
)
OUTBOX_BACKLOG = Gauge(
    "gateway_outbox_backlog_messages", "Outbox messages not yet published to Kafka", multiprocess_mode="max"
)
OUTBOX_OLDEST_AGE = Gauge(
    "gateway_outbox_oldest_age_seconds",
    "Age of the oldest outbox message not yet published (0 when none waits)",
    multiprocess_mode="max",
)
WEBHOOK_ATTEMPTS = Counter(
    "gateway_webhook_attempts_total",
    "Webhook delivery attempts, by outcome: delivered, retry (failed, tried again later) or failed (given up)",
    ["outcome"],
)
ORDERS_FINISHED = Counter("gateway_orders_finished_total", "Orders that reached a final state, by state", ["state"])
ORDERS_CREATED = Counter("gateway_orders_created_total", "Orders created (REST, studio and gRPC alike)")


def sample_outbox() -> None:
    """The outbox gauges, read from the database (gateway-worker samples them every few seconds)."""
    from outbox.models import OutboxMessage

    unsent = OutboxMessage.objects.filter(sent_at__isnull=True)
    OUTBOX_BACKLOG.set(unsent.count())
    oldest = unsent.aggregate(oldest=Min("created_at"))["oldest"]
    OUTBOX_OLDEST_AGE.set((timezone.now() - oldest).total_seconds() if oldest else 0.0)


class RequestObservabilityMiddleware:
    """Per request: the latency histogram, one JSON access line, and the order/tenant on every line it logs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        with logs.log_context(order_id="", tenant=""):
            response = self.get_response(request)
            elapsed = time.perf_counter() - started
            match = getattr(request, "resolver_match", None)
            route = match.route if match is not None else "unmatched"
            HTTP_SECONDS.labels(route, request.method, str(response.status_code)).observe(elapsed)
            access_log.info(
                "%s %s %d",
                request.method,
                route,
                response.status_code,
                extra={"http_route": route, "status": response.status_code, "duration_ms": round(elapsed * 1000, 1)},
            )
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        order_id = view_kwargs.get("order_id")
        if order_id:
            logs.set_order(str(order_id))

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
# Test-mode orders (accounts.Tenant.test_mode) count apart: a partner's integration tests move no live figure, alert
# or dashboard.
TEST_ORDERS_FINISHED = Counter(
    "gateway_test_orders_finished_total", "Test-mode orders that reached a final state, by state", ["state"]
)
TEST_ORDERS_CREATED = Counter("gateway_test_orders_created_total", "Test-mode orders created")
# Per team, for partners' billing (one series per team: teams are few next to orders).
TEAM_SEATS_USED = Gauge(
    "gateway_team_seats_used", "Seats taken in a team (its members)", ["team"], multiprocess_mode="max"
)
TEAM_HEADSHOTS_DELIVERED = Gauge(
    "gateway_team_headshots_delivered", "Headshots delivered to a team's members", ["team"], multiprocess_mode="max"
)


def count_order_created(test_mode: bool) -> None:
    (TEST_ORDERS_CREATED if test_mode else ORDERS_CREATED).inc()


def count_order_finished(test_mode: bool, state: str) -> None:
    (TEST_ORDERS_FINISHED if test_mode else ORDERS_FINISHED).labels(state).inc()


def sample_outbox() -> None:
    """The outbox gauges, read from the database (gateway-worker samples them every few seconds)."""
    from outbox.models import OutboxMessage

    unsent = OutboxMessage.objects.filter(sent_at__isnull=True)
    OUTBOX_BACKLOG.set(unsent.count())
    oldest = unsent.aggregate(oldest=Min("created_at"))["oldest"]
    OUTBOX_OLDEST_AGE.set((timezone.now() - oldest).total_seconds() if oldest else 0.0)


def sample_teams() -> None:
    """The team gauges, read from the database (gateway-worker samples them with the outbox's); a deleted team's
    series goes."""
    from teams.selectors import team_metrics

    rows = team_metrics()
    TEAM_SEATS_USED.clear()
    TEAM_HEADSHOTS_DELIVERED.clear()
    for team_id, seats_used, delivered in rows:
        TEAM_SEATS_USED.labels(team_id).set(seats_used)
        TEAM_HEADSHOTS_DELIVERED.labels(team_id).set(delivered)


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

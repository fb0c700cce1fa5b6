"""Signed webhooks (Standard Webhooks): enqueued with the change they announce, sent by the gateway worker.

The request path only inserts a row; delivery, retries and backoff happen in the worker, so a slow or
failing partner endpoint never slows an API call; and the worker claims fairly across destinations, with caps
per host and per tenant over every worker (`claim_due`), and sends through a pool of threads
(`delivery.DeliveryPool`), so one partner's endpoint or backlog never delays another partner's webhooks either.
Every attempt is recorded, whatever went wrong, and a delivery ends delivered or failed after the attempts
allowed.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count, Min, prefetch_related_objects
from django.utils import timezone
from opentelemetry.trace import SpanKind
from standardwebhooks import Webhook

from gateway.config import CONFIG
from gateway.observability import WEBHOOK_ATTEMPTS
from headshots_common import logs, tracing
from webhooks import destinations
from webhooks.models import WebhookAttempt, WebhookDelivery

log = logging.getLogger(__name__)

EVENT_TYPES = (
    "order.created",
    "order.photos_checked",
    "order.training_started",
    "order.progress",
    "order.completed",
    "order.failed",
    "order.deleted",
    "order.render_completed",
)
MAX_BACKOFF_S = 6 * 3600
# A claimed delivery is not due again until its send could have timed out, and this much more.
CLAIM_MARGIN_S = 30.0


def allowed_networks() -> tuple[destinations.Network, ...]:
    return destinations.parse_networks(CONFIG.webhook_allowed_networks)


def check_destination(url: str) -> None:
    """BlockedDestination unless webhooks may be sent to `url` (see `destinations`)."""
    destinations.check_url(url, allowed_networks())


def enqueue(order, event_type: str, data: dict) -> WebhookDelivery | None:
    """Record a webhook for the order's endpoint (none when the order has no webhook_url)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    if not order.webhook_url:
        return None
    now = timezone.now()
    payload = {"type": event_type, "timestamp": now.isoformat(), "data": {"order_id": str(order.id), **data}}
    return WebhookDelivery.objects.create(
        tenant_id=order.tenant_id,
        order_id=order.id,
        event_type=event_type,
        url=order.webhook_url,
        host=destinations.host_of(order.webhook_url),
        payload=payload,
        traceparent=order.traceparent,
        next_attempt_at=now,
    )


def signed_request(delivery: WebhookDelivery, secret: str, now: datetime) -> urllib.request.Request:
    body = json.dumps(delivery.payload, separators=(",", ":"))
    signature = Webhook(secret).sign(delivery.id, now, body)
    request = urllib.request.Request(delivery.url, data=body.encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("User-Agent", "Headshots-Webhooks/1")
    request.add_header("webhook-id", delivery.id)
    request.add_header("webhook-timestamp", str(int(now.timestamp())))
    request.add_header("webhook-signature", signature)
    return request


def backoff_s(attempts: int) -> float:
    """Exponential: base, 2×base, 4×base, … capped at six hours."""
    return min(CONFIG.webhook_base_delay_s * 2 ** (attempts - 1), MAX_BACKOFF_S)


def claim_due(limit: int, per_host: int | None = None, per_tenant: int | None = None) -> list[WebhookDelivery]:
    """Take up to `limit` due deliveries for this process, fairly across destinations, within the caps.

    A destination is a tenant's host. Every destination with due work gets a turn, the one waiting longest
    first, and takes its oldest due delivery; then a second round, and so on, while there are senders to fill
    and room under the caps: `per_host` deliveries in flight to one host and `per_tenant` to one tenant, counted
    over every worker. So however long one partner's backlog, everyone else's webhooks go out at once.

    A claim sets the delivery's `claimed_until` (and its next attempt) past the send timeout, so that no other
    worker takes it meanwhile; a worker that dies holding it leaves it to be claimed again then (at least once),
    and that claim records the lost attempt first, so a delivery whose attempts never get recorded still ends.
    """
    per_host = per_host or CONFIG.webhook_per_host
    per_tenant = per_tenant or CONFIG.webhook_per_tenant
    pending = WebhookDelivery.objects.filter(state=WebhookDelivery.State.PENDING)
    with transaction.atomic():
        _one_claim_at_a_time()
        now = timezone.now()
        in_flight = list(pending.filter(claimed_until__gt=now).values_list("tenant_id", "host").order_by())
        host_busy = Counter(host for _, host in in_flight)
        tenant_busy = Counter(tenant for tenant, _ in in_flight)
        due_destinations = list(
            pending.filter(next_attempt_at__lte=now)
            .values_list("tenant_id", "host")
            .annotate(oldest=Min("next_attempt_at"), due=Count("id"))
            .order_by("oldest")
        )
        take: Counter[tuple] = Counter()
        free, taking = limit, True
        while free and taking:  # round after round, one more delivery for each destination that has room
            taking = False
            for tenant, host, _, due in due_destinations:
                if not free:
                    break
                if take[tenant, host] < due and host_busy[host] < per_host and tenant_busy[tenant] < per_tenant:
                    take[tenant, host] += 1
                    host_busy[host] += 1
                    tenant_busy[tenant] += 1
                    free -= 1
                    taking = True
        claimed: list[WebhookDelivery] = []
        for (tenant, host), count in take.items():
            claimed += (
                pending.select_for_update(skip_locked=True)
                .filter(tenant_id=tenant, host=host, next_attempt_at__lte=now)
                .order_by("tenant_id", "host", "next_attempt_at")[:count]  # the index's order: no more rows read
            )
        prefetch_related_objects(claimed, "tenant")  # the signing secret; one query, not a join in each of those
        claimed = [delivery for delivery in claimed if not _gave_up_on_lost_attempt(delivery, now)]
        claim_until = now + timedelta(seconds=CONFIG.webhook_timeout_s + CLAIM_MARGIN_S)
        WebhookDelivery.objects.filter(pk__in=[d.pk for d in claimed]).update(
            next_attempt_at=claim_until, claimed_until=claim_until
        )
        for delivery in claimed:
            delivery.next_attempt_at = delivery.claimed_until = claim_until
    return claimed


# Any fixed number: the PostgreSQL advisory lock that makes claims take turns.
_CLAIM_LOCK = 0x77656268  # "webh"


def _one_claim_at_a_time() -> None:
    """Claims take turns, so two workers never both count the last free slot of a cap as theirs.

    PostgreSQL: a lock held to the end of the claim's transaction. SQLite: its transactions are IMMEDIATE
    (`gateway.settings`), so the claim holds the database's write lock from its start already.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CLAIM_LOCK])


def _gave_up_on_lost_attempt(delivery: WebhookDelivery, now: datetime) -> bool:
    """A claim that ran out with no attempt recorded (its worker died, or could not record) counts as a failed
    attempt, recorded here: no delivery is retried without an attempt on record, nor more than the attempts
    allowed. Whether that was the last one (the delivery is given up, and not claimed)."""
    if delivery.claimed_until is None:
        return False
    _record(
        delivery,
        status=None,
        error=f"no attempt recorded: the claim ran out at {delivery.claimed_until.isoformat()} "
        "(its worker stopped, or failed to record the attempt)",
        duration_ms=0,
        give_up=False,
        now=now,
    )
    return delivery.state == WebhookDelivery.State.FAILED


def deliver_due(limit: int = 20) -> int:
    """Attempt every due delivery, one after another (the worker uses `delivery.DeliveryPool`); how many."""
    due = claim_due(limit)
    for delivery in due:
        attempt(delivery)
    return len(due)


def attempt(delivery: WebhookDelivery) -> None:
    """Send one claimed delivery (no transaction open meanwhile) and record the attempt and what comes next.

    Whatever goes wrong becomes the attempt's error: a refusal, a timeout, a malformed answer, a bug.
    """
    now = timezone.now()
    started = time.monotonic()
    status, error, give_up = None, "", False
    attributes = {"webhook.event_type": delivery.event_type, "webhook.attempt": delivery.attempts + 1}
    with (
        logs.log_context(order_id=str(delivery.order_id), tenant=str(delivery.tenant_id)),
        tracing.span("webhook.delivery", delivery.traceparent, SpanKind.CLIENT, attributes) as span,
    ):
        try:
            request = signed_request(delivery, delivery.tenant.webhook_secret, now)
        except Exception as exc:  # no secret (a consumer's order from before webhooks needed a partner), …
            error, give_up = _describe(exc), True  # signing is the same on every retry: it would fail again
        else:
            try:
                with destinations.opener(allowed_networks()).open(
                    request, timeout=CONFIG.webhook_timeout_s
                ) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status, error = exc.code, f"HTTP {exc.code}"
            except Exception as exc:  # unreachable, timed out, refused, a malformed answer: retried with backoff
                reason = getattr(exc, "reason", exc)
                # A destination that is not allowed will not become allowed by retrying it.
                give_up = isinstance(reason, destinations.BlockedDestination)
                error = _describe(reason if give_up else exc)
        span.set_attribute("http.response.status_code", status or 0)
    _record(
        delivery,
        status=status,
        error=error,
        duration_ms=round((time.monotonic() - started) * 1000),
        give_up=give_up,
        now=timezone.now(),
    )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[: WebhookAttempt._meta.get_field("error").max_length]


def _record(
    delivery: WebhookDelivery, *, status: int | None, error: str, duration_ms: int, give_up: bool, now: datetime
) -> None:
    """The attempt, and what comes next: delivered, given up (`give_up`, or out of attempts) or a retry later.

    `delivery` is updated in place from the row as it is now (another worker may have recorded meanwhile).
    """
    with transaction.atomic():
        row = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        WebhookAttempt.objects.create(delivery=row, status_code=status, error=error, duration_ms=duration_ms)
        row.attempts += 1
        if row.claimed_until == delivery.claimed_until:  # the claim is still this attempt's own
            row.claimed_until = None
        outcome = ""
        if row.state != WebhookDelivery.State.PENDING:
            pass  # another worker's attempt, after this one's claim ran out, settled it already
        elif status is not None and 200 <= status < 300:
            row.state, row.delivered_at = WebhookDelivery.State.DELIVERED, now
            outcome = "delivered"
            log.info(
                "webhook %s (%s) delivered: HTTP %d",
                row.id,
                row.event_type,
                status,
                extra={"order_id": str(row.order_id), "tenant": str(row.tenant_id)},
            )
        elif give_up or row.attempts >= CONFIG.webhook_max_attempts:
            row.state = WebhookDelivery.State.FAILED
            log.warning(
                "webhook %s to tenant %s given up after %d attempts: %s", row.id, row.tenant_id, row.attempts, error
            )
            outcome = "failed"
        else:
            row.next_attempt_at = now + timedelta(seconds=backoff_s(row.attempts))
            outcome = "retry"
        row.save(update_fields=["attempts", "claimed_until", "state", "delivered_at", "next_attempt_at"])
    for field in ("attempts", "claimed_until", "state", "delivered_at", "next_attempt_at"):
        setattr(delivery, field, getattr(row, field))
    if outcome:
        WEBHOOK_ATTEMPTS.labels(outcome).inc()

"""Signed webhooks (Standard Webhooks): enqueued with the change they announce, sent by the gateway worker.

The request path only inserts a row; delivery, retries and backoff happen in the worker, so a slow or
failing partner endpoint never slows an API call; and the worker sends through a pool with a cap per
destination (`delivery.DeliveryPool`), so it never delays another partner's webhooks either.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from datetime import datetime, timedelta

from django.db import transaction
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


def destination_of(url: str) -> str:
    """What a delivery is sent to, for the per-destination cap: the URL's host and port."""
    return urllib.parse.urlsplit(url).netloc.lower()


def claim_due(limit: int, busy: Counter[str] | None = None, per_destination: int = 0) -> list[WebhookDelivery]:
    """Take up to `limit` due deliveries for this process; none to a destination at its cap (`busy`, counted).

    A claim moves the delivery's next attempt past the send timeout, so that no other worker takes it
    meanwhile; a worker that dies holding it leaves it to be claimed again then (at least once).
    """
    busy = Counter(busy or {})
    claimed: list[WebhookDelivery] = []
    with transaction.atomic():
        due = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("tenant")
            .filter(state=WebhookDelivery.State.PENDING, next_attempt_at__lte=timezone.now())
            .order_by("next_attempt_at")[: limit * 10]
        )
        for delivery in due:
            destination = destination_of(delivery.url)
            if per_destination and busy[destination] >= per_destination:
                continue
            busy[destination] += 1
            claimed.append(delivery)
            if len(claimed) == limit:
                break
        claim_until = timezone.now() + timedelta(seconds=CONFIG.webhook_timeout_s + CLAIM_MARGIN_S)
        WebhookDelivery.objects.filter(pk__in=[d.pk for d in claimed]).update(next_attempt_at=claim_until)
    return claimed


def deliver_due(limit: int = 20) -> int:
    """Attempt every due delivery, one after another (the worker uses `delivery.DeliveryPool`); how many."""
    due = claim_due(limit)
    for delivery in due:
        attempt(delivery)
    return len(due)


def attempt(delivery: WebhookDelivery) -> None:
    """Send one delivery (no transaction open meanwhile) and record the attempt and what comes next."""
    now = timezone.now()
    started = time.monotonic()
    status, error, blocked = None, "", False
    attributes = {"webhook.event_type": delivery.event_type, "webhook.attempt": delivery.attempts + 1}
    with (
        logs.log_context(order_id=str(delivery.order_id), tenant=str(delivery.tenant_id)),
        tracing.span("webhook.delivery", delivery.traceparent, SpanKind.CLIENT, attributes) as span,
    ):
        try:
            request = signed_request(delivery, delivery.tenant.webhook_secret, now)
            with destinations.opener(allowed_networks()).open(request, timeout=CONFIG.webhook_timeout_s) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            blocked = isinstance(reason, destinations.BlockedDestination)
            error = f"{type(reason if blocked else exc).__name__}: {reason}"[:300]
        span.set_attribute("http.response.status_code", status or 0)
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery, status_code=status, error=error, duration_ms=round((time.monotonic() - started) * 1000)
        )
        delivery.attempts += 1
        if status is not None and 200 <= status < 300:
            delivery.state, delivery.delivered_at = WebhookDelivery.State.DELIVERED, timezone.now()
            outcome = "delivered"
            log.info(
                "webhook %s (%s) delivered: HTTP %d",
                delivery.id,
                delivery.event_type,
                status,
                extra={"order_id": str(delivery.order_id), "tenant": str(delivery.tenant_id)},
            )
        elif blocked or delivery.attempts >= CONFIG.webhook_max_attempts:
            # A destination that is not allowed will not become allowed by retrying it.
            delivery.state = WebhookDelivery.State.FAILED
            log.warning(
                "webhook %s to tenant %s given up after %d attempts",
                delivery.id,
                delivery.tenant_id,
                delivery.attempts,
            )
            outcome = "failed"
        else:
            delivery.next_attempt_at = timezone.now() + timedelta(seconds=backoff_s(delivery.attempts))
            outcome = "retry"
        delivery.save()
    WEBHOOK_ATTEMPTS.labels(outcome).inc()

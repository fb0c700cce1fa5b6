"""Signed webhooks (Standard Webhooks): enqueued with the change they announce, sent by the gateway worker.

The request path only inserts a row; delivery, retries and backoff happen in
the worker, so a slow or failing partner endpoint never slows an API call.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook

from gateway.config import CONFIG
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


def deliver_due(limit: int = 20) -> int:
    """Attempt every delivery that is due; returns how many were attempted."""
    with transaction.atomic():
        due = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("tenant")
            .filter(state=WebhookDelivery.State.PENDING, next_attempt_at__lte=timezone.now())
            .order_by("next_attempt_at")[:limit]
        )
        opener = destinations.opener(allowed_networks())
        for delivery in due:
            _attempt(delivery, opener)
    return len(due)


def _attempt(delivery: WebhookDelivery, opener: urllib.request.OpenerDirector) -> None:
    now = timezone.now()
    started = time.monotonic()
    status, error, blocked = None, "", False
    try:
        request = signed_request(delivery, delivery.tenant.webhook_secret, now)
        with opener.open(request, timeout=CONFIG.webhook_timeout_s) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status, error = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        blocked = isinstance(reason, destinations.BlockedDestination)
        error = f"{type(reason if blocked else exc).__name__}: {reason}"[:300]
    WebhookAttempt.objects.create(
        delivery=delivery, status_code=status, error=error, duration_ms=round((time.monotonic() - started) * 1000)
    )
    delivery.attempts += 1
    if status is not None and 200 <= status < 300:
        delivery.state, delivery.delivered_at = WebhookDelivery.State.DELIVERED, timezone.now()
    elif blocked or delivery.attempts >= CONFIG.webhook_max_attempts:
        # A destination that is not allowed will not become allowed by retrying it.
        delivery.state = WebhookDelivery.State.FAILED
        log.warning(
            "webhook %s to tenant %s given up after %d attempts", delivery.id, delivery.tenant_id, delivery.attempts
        )
    else:
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=backoff_s(delivery.attempts))
    delivery.save()

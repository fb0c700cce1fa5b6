import uuid

from django.db import models

from accounts.models import Tenant


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


class WebhookDelivery(models.Model):
    """One event for one partner endpoint; retried with exponential backoff until delivered or given up."""

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    # The Standard Webhooks `webhook-id`: the same on every retry, so receivers can deduplicate.
    id = models.CharField(primary_key=True, max_length=40, default=new_message_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhook_deliveries")
    order_id = models.UUIDField(db_index=True)
    event_type = models.CharField(max_length=40)
    url = models.URLField(max_length=500)
    # The URL's host as the caps count it (`destinations.host_of`): stored at enqueue, so claims can group by it.
    host = models.CharField(max_length=255)
    payload = models.JSONField()
    traceparent = models.CharField(max_length=64, blank=True, default="")  # the order's trace; "" when off
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # Set while a worker sends it (the claim's end), cleared when the attempt is recorded: what every worker
    # counts against the caps, and, still set after the claim ran out, the sign of an attempt never recorded.
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # The destinations with due work, and the oldest due deliveries of each (`services.claim_due`): pending
            # deliveries only, so it stays the size of the work to do however long the history grows.
            models.Index(
                fields=["tenant", "host", "next_attempt_at"],
                name="webhook_pending_by_destination",
                condition=models.Q(state="pending"),
            ),
            # What is in flight: few rows, whatever the backlog.
            models.Index(
                fields=["claimed_until"], name="webhook_in_flight", condition=models.Q(claimed_until__isnull=False)
            ),
        ]


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True, default="")
    duration_ms = models.PositiveIntegerField()

    class Meta:
        ordering = ["attempted_at", "id"]

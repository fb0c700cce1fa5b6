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
    payload = models.JSONField()
    traceparent = models.CharField(max_length=64, blank=True, default="")  # the order's trace; "" when off
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True, default="")
    duration_ms = models.PositiveIntegerField()

    class Meta:
        ordering = ["attempted_at", "id"]

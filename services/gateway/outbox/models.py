from django.db import models


class OutboxMessage(models.Model):
    """An event written in the same transaction as the change it describes; the relay publishes it."""

    topic = models.CharField(max_length=100)
    key = models.CharField(max_length=100)
    payload = models.BinaryField()
    traceparent = models.CharField(max_length=64, blank=True, default="")  # the order's trace (W3C), "" when off
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["sent_at", "id"], name="outbox_unsent_idx")]


class ProcessedEvent(models.Model):
    """Ids of consumed events: a redelivered event is recognised and skipped."""

    event_id = models.CharField(max_length=64, primary_key=True)
    processed_at = models.DateTimeField(auto_now_add=True)

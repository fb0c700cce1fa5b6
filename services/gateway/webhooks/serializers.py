"""Output shapes of the webhook delivery log."""

from rest_framework import serializers

from webhooks.models import WebhookAttempt, WebhookDelivery


class WebhookAttemptOutput(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["attempted_at", "status_code", "error", "duration_ms"]


class WebhookDeliveryOutput(serializers.ModelSerializer):
    attempt_log = WebhookAttemptOutput(many=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_type",
            "url",
            "state",
            "attempts",
            "next_attempt_at",
            "created_at",
            "delivered_at",
            "payload",
            "attempt_log",
        ]


class WebhookDeliveryListOutput(serializers.Serializer):
    results = WebhookDeliveryOutput(many=True)

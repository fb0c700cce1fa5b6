"""Reads of the webhook delivery log."""

from webhooks.models import WebhookDelivery


def deliveries_for_order(tenant, order_id):
    return WebhookDelivery.objects.filter(tenant=tenant, order_id=order_id).prefetch_related("attempt_log")

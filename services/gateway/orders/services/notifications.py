"""E-mail to consumers: their headshots are ready (sent once the order's completion is committed)."""

from __future__ import annotations

import logging

from django.core.mail import send_mail
from django.db import transaction

from accounts.models import Tenant
from gateway.config import CONFIG
from orders.models import Order

log = logging.getLogger(__name__)


def headshots_ready(order: Order, new_headshots: int) -> None:
    """Queue the e-mail for after the transaction; partners get webhooks instead, and no mail is kept waiting."""
    tenant = order.tenant
    if tenant.kind != Tenant.Kind.CONSUMER or not tenant.email:
        return
    link = f"{CONFIG.public_url.rstrip('/')}/studio/orders/{order.id}"
    subject = f"Your {new_headshots} headshots are ready"
    body = (
        f"Hello {tenant.name},\n\n{new_headshots} new headshots are ready in your studio:\n{link}\n\n"
        "Download them, pick your favourites, or render more in another style. Your photos and headshots are "
        f"deleted automatically {order.retention_hours} hours after delivery, or whenever you choose.\n"
    )

    def send() -> None:
        try:
            send_mail(subject, body, None, [tenant.email])
        except Exception:  # a mail server that is down must not undo or retry the delivery itself
            log.exception("could not e-mail order %s's owner", order.id)

    transaction.on_commit(send)

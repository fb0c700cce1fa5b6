"""Orders that stopped moving get their work asked for again, so no lost message leaves an order stuck.

Every stage reports progress often (training steps, rendered images), so an order in flight whose last change
is older than `stall_after` lost a message: the broker restarted (a local broker keeps nothing across a restart),
or a worker died between its work and its announcement. The order's last request is sent again; every
consumer is idempotent, and a finished job announces its outcome again (`OrderSubmitted.resubmitted`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from orders.models import Order, RenderRequest
from orders.services.creation import enqueue_render_request, enqueue_submission

log = logging.getLogger(__name__)

IN_FLIGHT = (Order.State.QUEUED, Order.State.TRAINING, Order.State.RENDERING)


def resubmit_stalled(stall_after: timedelta, now: datetime | None = None) -> int:
    """Ask again for the work of every order in flight that has not changed for `stall_after`; returns how many."""
    cutoff = (now or timezone.now()) - stall_after
    count = 0
    for order_id in Order.objects.filter(state__in=IN_FLIGHT, updated_at__lt=cutoff).values_list("id", flat=True):
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order_id)
            if order.state not in IN_FLIGHT or order.updated_at >= cutoff:
                continue  # it moved meanwhile
            pending = order.render_requests.filter(state=RenderRequest.State.PENDING).order_by("created_at").first()
            if pending is not None:
                enqueue_render_request(order, pending)
            else:
                enqueue_submission(order, resubmitted=True)
            order.save()  # its updated_at: asked again no sooner than another `stall_after` from now
        log.warning(
            "order %s made no progress since %s: its work was requested again",
            order_id,
            cutoff,
            extra={"order_id": str(order_id)},
        )
        count += 1
    return count

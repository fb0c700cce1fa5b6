"""Orders that stopped moving get their work asked for again, so no lost message leaves an order stuck.

Every stage reports progress often (training steps, rendered images), so an order in flight whose last change
is older than `stall_after` lost a message: the broker restarted (a local broker keeps nothing across a restart),
or a worker died between its work and its announcement. The order's last request is sent again; every
consumer is idempotent, and a finished job announces its outcome again (`OrderSubmitted.resubmitted`).
Likewise a photo still `checking` that long ago lost its PhotoReceived (the order could never be submitted):
the checker is told again, and decides a photo once whatever it is told.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from orders.models import Order, Photo, RenderRequest
from orders.services.creation import enqueue_render_request, enqueue_submission
from orders.services.photos import announce_to_checker

log = logging.getLogger(__name__)

IN_FLIGHT = (Order.State.QUEUED, Order.State.TRAINING, Order.State.RENDERING)


def resubmit_stalled(stall_after: timedelta, now: datetime | None = None) -> int:
    """Ask again for the work of every order in flight, and the check of every photo, that has not moved for
    `stall_after`; returns how many."""
    cutoff = (now or timezone.now()) - stall_after
    count = _announce_unchecked_photos(cutoff)
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


def _announce_unchecked_photos(cutoff: datetime) -> int:
    count = 0
    for photo_id in Photo.objects.filter(state=Photo.State.CHECKING, received_at__lt=cutoff).values_list(
        "id", flat=True
    ):
        with transaction.atomic():
            photo = Photo.objects.select_for_update().select_related("order").get(pk=photo_id)
            if photo.state != Photo.State.CHECKING or photo.received_at is None or photo.received_at >= cutoff:
                continue  # decided meanwhile
            announce_to_checker(photo.order, photo)
            photo.received_at = timezone.now()  # told again now: asked again no sooner than another `stall_after`
            photo.save(update_fields=["received_at"])
        log.warning(
            "photo %s of order %s has had no verdict since %s: the checker was told again",
            photo_id,
            photo.order_id,
            cutoff,
            extra={"order_id": str(photo.order_id)},
        )
        count += 1
    return count

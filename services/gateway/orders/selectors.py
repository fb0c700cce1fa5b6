"""Reads for orders: every lookup is scoped to the caller's tenant."""

from __future__ import annotations

import tempfile
import uuid
import zipfile

from django.core.cache import cache
from django.db.models import QuerySet

from accounts.models import Tenant
from gateway.config import CONFIG
from gateway.errors import NotFound
from orders.models import Headshot, Order

# Archives stay in memory up to this size, then spill to a temporary file.
ZIP_SPOOL_BYTES = 32 * 1024 * 1024


def get_order(tenant: Tenant, order_id) -> Order:
    """The tenant's order; another tenant's order id is indistinguishable from a missing one."""
    try:
        order_id = uuid.UUID(str(order_id))
    except ValueError:
        raise NotFound("order") from None
    try:
        return Order.objects.get(tenant=tenant, pk=order_id)
    except Order.DoesNotExist:
        raise NotFound("order") from None


def _status_key(tenant_id, order_id) -> str:
    return f"order-status:{tenant_id}:{order_id}"


def order_status(tenant: Tenant, order_id) -> dict:
    """The order as GET /v1/orders/{id} shows it, from a short-lived cache.

    Clients poll this while an order trains. With a shared cache (HEADSHOTS_CACHE_URL=redis://…)
    every write to the order clears its entry (`forget_order_status`), so no process serves a
    stale status; without one the status is read from the database every time.
    """
    if CONFIG.status_cache_s <= 0:
        from orders.serializers import order_representation

        return order_representation(get_order(tenant, order_id))
    key = _status_key(tenant.pk, order_id)
    status = cache.get(key)
    if status is None:
        from orders.serializers import order_representation

        status = order_representation(get_order(tenant, order_id))
        cache.set(key, status, CONFIG.status_cache_s)
    return status


def forget_order_status(order: Order) -> None:
    cache.delete(_status_key(order.tenant_id, order.pk))


def list_headshots(order: Order, style_id: str | None = None) -> QuerySet[Headshot]:
    headshots = order.headshots.all()
    return headshots.filter(style_id=style_id) if style_id else headshots


def get_headshot(order: Order, headshot_id) -> Headshot:
    try:
        headshot = order.headshots.filter(pk=uuid.UUID(str(headshot_id))).first()
    except ValueError:
        headshot = None
    if headshot is None:
        raise NotFound("headshot")
    return headshot


def headshots_zip(order: Order, blobs):
    """A zip of every headshot (PNGs are already compressed: stored, not deflated), rewound for reading."""
    spool = tempfile.SpooledTemporaryFile(max_size=ZIP_SPOOL_BYTES)
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
        for index, headshot in enumerate(list_headshots(order), start=1):
            archive.writestr(f"{index:03d}-{headshot.style_id}-{headshot.id}.png", blobs.get(headshot.blob_key))
    spool.seek(0)
    return spool

"""Reads for orders: every lookup is scoped to the caller's tenant."""

from __future__ import annotations

import json
import tempfile
import uuid
import zipfile
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from accounts.models import Tenant
from gateway.errors import NotFound
from orders.models import Headshot, Order, Photo

# Archives stay in memory up to this size, then spill to a temporary file.
ZIP_SPOOL_BYTES = 32 * 1024 * 1024


def parse_id(value, what: str) -> uuid.UUID:
    """A malformed id names nothing: it is answered like a missing one."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(what) from None


def get_order(tenant: Tenant, order_id) -> Order:
    """The tenant's order; another tenant's order id is indistinguishable from a missing one."""
    order_id = parse_id(order_id, "order")
    try:
        return Order.objects.get(tenant=tenant, pk=order_id)
    except Order.DoesNotExist:
        raise NotFound("order") from None


def get_photo(order: Order, photo_id) -> Photo:
    photo = order.photos.filter(pk=parse_id(photo_id, "photo")).first()
    if photo is None:
        raise NotFound("photo")
    return photo


def photo_summaries(order: Order) -> list[dict[str, Any]]:
    """The order's photos and their verdicts, oldest first (`Photo.summary`)."""
    return [p.summary() for p in order.photos.order_by("created_at", "id")]


def order_status_json(tenant: Tenant, order_id) -> str:
    """GET /v1/orders/{id}'s body: the status rendered when the order was last saved.

    One indexed single-column read: status polling is the busiest call of the API.
    """
    order_id = parse_id(order_id, "order")
    pk = Order._meta.pk
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {Order._meta.get_field('status_json').column} FROM {Order._meta.db_table} "
            f"WHERE {pk.column} = %s AND {Order._meta.get_field('tenant').column} = %s",
            [pk.get_db_prep_value(order_id, connection), pk.get_db_prep_value(tenant.pk, connection)],
        )
        row = cursor.fetchone()
    if row is None:
        raise NotFound("order")
    return row[0]


def order_status(tenant: Tenant, order_id) -> dict[str, Any]:
    """The order's representation as last saved (`order_status_json`, parsed)."""
    return json.loads(order_status_json(tenant, order_id))


def list_orders(tenant: Tenant) -> QuerySet[Order]:
    """The tenant's orders, newest first."""
    return Order.objects.filter(tenant=tenant).order_by("-created_at", "-id")


def submitted_orders(tenant: Tenant) -> QuerySet[Order]:
    """The tenant's orders that were submitted (each is a long-running operation), latest first."""
    return Order.objects.filter(tenant=tenant, submitted_at__isnull=False).order_by("-submitted_at", "-id")


# How headshots can be listed: oldest first, or the best likeness to the selfies first.
HEADSHOT_ORDERINGS = {
    "created": ("created_at", "blob_key"),
    "likeness": ("-likeness_score", "created_at", "blob_key"),
    "quality": ("-quality_score", "created_at", "blob_key"),
}


def list_headshots(order: Order, style_id: str | None = None, sort: str = "created") -> QuerySet[Headshot]:
    headshots = order.headshots.all().order_by(*HEADSHOT_ORDERINGS[sort])
    return headshots.filter(style_id=style_id) if style_id else headshots


def get_headshot(order: Order, headshot_id) -> Headshot:
    headshot = order.headshots.filter(pk=parse_id(headshot_id, "headshot")).first()
    if headshot is None:
        raise NotFound("headshot")
    return headshot


def headshots_zip(order: Order, blobs):
    """A zip of every headshot (PNGs are already compressed: stored, not deflated), rewound for reading."""
    spool = tempfile.SpooledTemporaryFile(max_size=ZIP_SPOOL_BYTES)  # noqa: SIM115  (the response closes it)
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
        for index, headshot in enumerate(list_headshots(order), start=1):
            archive.writestr(f"{index:03d}-{headshot.style_id}-{headshot.id}.png", blobs.get(headshot.blob_key))
    spool.seek(0)
    return spool

"""Reads for orders: every lookup is scoped to the caller's tenant."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from accounts.models import Tenant
from gateway.errors import NotFound
from orders.models import Headshot, Order


def get_order(tenant: Tenant, order_id) -> Order:
    """The tenant's order; another tenant's order id is indistinguishable from a missing one."""
    order = (
        Order.objects.filter(tenant=tenant, pk=order_id)
        .annotate(photo_count=Count("photos", distinct=True), headshot_count=Count("headshots", distinct=True))
        .first()
    )
    if order is None:
        raise NotFound("order")
    return order


def list_headshots(order: Order) -> QuerySet[Headshot]:
    return order.headshots.all()


def get_headshot(order: Order, headshot_id) -> Headshot:
    headshot = order.headshots.filter(pk=headshot_id).first()
    if headshot is None:
        raise NotFound("headshot")
    return headshot

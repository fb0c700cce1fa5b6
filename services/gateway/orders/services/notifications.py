"""E-mail to consumers when their headshots are delivered (sent once the delivery is committed).

A delivery the quality gate left short never says "ready": it says how many passed, why the rest did not,
what the person can do (render the missing ones, order again with more photos, accept the set) and how long
their photos are kept meanwhile.
"""

from __future__ import annotations

import logging

from django.core.mail import send_mail
from django.db import transaction

from accounts.models import Tenant
from gateway.config import CONFIG
from headshots_common.styles import images_per_style
from orders import quality
from orders.models import Order, RenderRequest

log = logging.getLogger(__name__)


def _send(order: Order, subject: str, body: str) -> None:
    """Queue the e-mail for after the transaction; partners get webhooks instead, and no mail is kept waiting."""
    tenant = order.tenant
    if tenant.kind != Tenant.Kind.CONSUMER or not tenant.email:
        return

    def send() -> None:
        try:
            send_mail(subject, f"Hello {tenant.name},\n\n{body}", None, [tenant.email])
        except Exception:  # a mail server that is down must not undo or retry the delivery itself
            log.exception("could not e-mail order %s's owner", order.id)

    transaction.on_commit(send)


def _studio_link(order: Order) -> str:
    return f"{CONFIG.public_url.rstrip('/')}/studio/orders/{order.id}"


def _count(delivered: int, wanted: int) -> str:
    return f"none of {wanted}" if delivered == 0 else f"{delivered} of {wanted}"


def order_delivered(order: Order) -> None:
    """The order's own set is delivered: ready, or short of its count."""
    if order.delivery != "short":
        subject = f"Your {order.headshots_ready} headshots are ready"
        body = (
            f"{order.headshots_ready} new headshots are ready in your studio:\n{_studio_link(order)}\n\n"
            "Download them, pick your favourites, or render more in another style. Your photos and trained model are "
            f"deleted automatically {order.retention_hours} hours after delivery, or whenever you choose.\n"
        )
        _send(order, subject, body)
        return
    wanted = images_per_style(order.package, len(order.style_ids)) * len(order.style_ids)
    styles = "\n".join(
        f"- {s['style_id']}: {_count(s['delivered'], s['wanted'])} ({s['message']})" for s in order.shortfall
    )
    passed = "none" if order.headshots_ready == 0 else f"only {order.headshots_ready}"
    retried = ", even after rendering the missing ones again" if (order.quality or {}).get("top_up_rounds") else ""
    kept_until = order.purge_at.date().isoformat() if order.purge_at else "the end of the retention period"
    subject = (
        "We could not make your headshots yet"
        if order.headshots_ready == 0
        else f"Your headshots: {order.headshots_ready} of {wanted} passed our quality checks"
    )
    body = (
        f"We rendered your headshots, but {passed} of the {wanted} headshots you ordered passed our quality "
        f"checks{retried}:\n{styles}\n\n"
        f"What you can do, in your studio:\n{_studio_link(order)}\n"
        "- Render more of a missing style: new images from your trained model, no new photos needed.\n"
        "- Order again with more photos: recent ones, face clearly visible, different angles and light.\n"
        "- Accept the headshots as they are.\n\n"
        f"We keep your photos and trained model until you decide, at most until {kept_until}. Once you accept, they "
        f"are deleted automatically {order.retention_hours} hours later, or whenever you choose.\n"
    )
    _send(order, subject, body)


def render_delivered(order: Order, render: RenderRequest, delivered: int, reason: str) -> None:
    """More headshots in a style were rendered: all of them ready, or fewer than asked for and why."""
    if delivered >= render.count:
        subject = f"Your {delivered} new headshots are ready"
        body = f"{delivered} new headshots in {render.style_id} are ready in your studio:\n{_studio_link(order)}\n"
        _send(order, subject, body)
        return
    why = quality.shortfall_entry(render.style_id, render.count, delivered, reason)["message"]
    subject = (
        f"We could not make your {render.count} new headshots"
        if delivered == 0
        else f"{delivered} of your {render.count} new headshots passed our quality checks"
    )
    body = (
        f"You asked for {render.count} more headshots in {render.style_id}: {_count(delivered, render.count)} passed "
        f"our quality checks ({why}).\n\nIn your studio you can render more, try another style, or order again "
        f"with more photos:\n{_studio_link(order)}\n"
    )
    _send(order, subject, body)

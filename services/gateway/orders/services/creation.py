"""Creating an order, submitting it for training, and asking for more headshots from its adapter."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant
from gateway.config import CONFIG
from gateway.errors import Conflict, FailedPrecondition, InvalidArgument, ResourceExhausted
from gateway.observability import ORDERS_CREATED
from headshots.v1 import common_pb2, events_pb2
from headshots_common import bus, tracing
from headshots_common.styles import PACKAGES, STYLES, images_per_style, subject_phrase
from orders import policy
from orders.models import Order, RenderRequest
from orders.representation import order_summary
from outbox import services as outbox
from webhooks import services as webhooks
from webhooks.destinations import BlockedDestination


def _check_quota(tenant: Tenant) -> None:
    if tenant.monthly_order_quota is None:
        return
    now = timezone.now()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    used = Order.objects.filter(tenant=tenant, created_at__gte=month_start).count()
    if used >= tenant.monthly_order_quota:
        next_month = (month_start + timedelta(days=32)).replace(day=1)
        raise ResourceExhausted(
            "quota_exceeded",
            f"the monthly quota of {tenant.monthly_order_quota} orders is used up",
            details={"quota": tenant.monthly_order_quota, "used": used},
            retry_after_s=int((next_month - now).total_seconds()) + 1,
        )


@transaction.atomic
def create_order(
    tenant: Tenant,
    *,
    package: str,
    style_ids: list[str],
    subject_class: str = policy.DEFAULT_SUBJECT_CLASS,
    retention_hours: int = policy.DEFAULT_RETENTION_HOURS,
    webhook_url: str = "",
) -> Order:
    if package not in PACKAGES:
        raise InvalidArgument("unknown_package", f"package must be one of {sorted(PACKAGES)}")
    unknown = [s for s in style_ids if s not in STYLES]
    if not style_ids or unknown:
        raise InvalidArgument(
            "unknown_style", f"unknown styles {unknown}; see GET /v1/styles", details={"unknown": unknown}
        )
    if subject_class not in policy.SUBJECT_CLASSES:
        raise InvalidArgument("invalid_subject_class", f"subject_class must be one of {list(policy.SUBJECT_CLASSES)}")
    if not 1 <= retention_hours <= policy.MAX_RETENTION_HOURS:
        raise InvalidArgument(
            "invalid_retention",
            f"retention_hours must be between 1 and {policy.MAX_RETENTION_HOURS} ({policy.MAX_RETENTION.days} days)",
        )
    if webhook_url:
        try:
            webhooks.check_destination(webhook_url)
        except BlockedDestination as exc:
            raise InvalidArgument(
                "webhook_url_not_allowed",
                f"webhook_url refused: {exc}",
                details={"fields": {"webhook_url": [str(exc)]}},
            ) from None
    _check_quota(tenant)
    order = Order(
        tenant=tenant,
        package=package,
        style_ids=list(dict.fromkeys(style_ids)),
        subject_class=subject_class,
        retention_hours=retention_hours,
        webhook_url=webhook_url,
        purge_at=timezone.now() + policy.MAX_RETENTION,
    )
    order.traceparent = tracing.order_trace(str(order.id), str(tenant.id))
    order.save(force_insert=True)
    transaction.on_commit(lambda: ORDERS_CREATED.inc())
    webhooks.enqueue(order, "order.created", order_summary(order))
    return order


def submit_order(order: Order) -> Order:
    """Queue the order for training: state change and OrderSubmitted event in one transaction."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.state != Order.State.AWAITING_PHOTOS:
            if order.state == Order.State.QUEUED:
                return order  # submitting twice is harmless
            raise Conflict("order_not_open", f"the order is already {order.state}")
        photos = list(order.photos.order_by("created_at"))
        if len(photos) < CONFIG.min_photos:
            raise FailedPrecondition(
                "not_enough_photos",
                f"{len(photos)} photos accepted; at least {CONFIG.min_photos} are needed",
                details={"accepted": len(photos), "required": CONFIG.min_photos},
            )
        if len(photos) > CONFIG.max_photos:
            raise FailedPrecondition(
                "too_many_photos",
                f"{len(photos)} photos accepted; at most {CONFIG.max_photos} are used",
                details={"accepted": len(photos), "maximum": CONFIG.max_photos},
            )
        order.state, order.progress_stage, order.submitted_at = Order.State.QUEUED, "queued", timezone.now()
        order.save()
        enqueue_submission(order)
    return order


def enqueue_submission(order: Order, resubmitted: bool = False) -> None:
    """The OrderSubmitted event of a queued order, in the caller's transaction."""
    submitted = events_pb2.OrderSubmitted(
        tenant_id=str(order.tenant_id),
        photo_keys=[p.blob_key for p in order.photos.order_by("created_at")],
        subject_class=order.subject_class,
        training_profile=common_pb2.TRAINING_PROFILE_STANDARD,
        render_spec=common_pb2.RenderSpec(
            style_ids=order.style_ids, images_per_style=images_per_style(order.package, len(order.style_ids))
        ),
        resubmitted=resubmitted,
    )
    outbox.enqueue(bus.ORDERS_TOPIC, bus.new_event(str(order.id), order_submitted=submitted), order.traceparent)


def request_render(order: Order, style_id: str, count: int) -> RenderRequest:
    """More headshots in a style from the stored adapter; no retraining."""
    if style_id not in STYLES:
        raise InvalidArgument("unknown_style", f"unknown style {style_id!r}; see GET /v1/styles")
    if not 1 <= count <= policy.MAX_RENDER_COUNT:
        raise InvalidArgument("invalid_count", f"count must be between 1 and {policy.MAX_RENDER_COUNT}")
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.state != Order.State.COMPLETED:
            raise Conflict("order_not_completed", f"renders need a completed order (it is {order.state})")
        if not order.adapter_key or order.training_data_purged_at:
            raise Conflict("adapter_purged", "the adapter was deleted under the retention policy; order again")
        render = RenderRequest.objects.create(order=order, style_id=style_id, count=count)
        order.state, order.progress_stage = Order.State.RENDERING, "rendering"
        order.save()
        enqueue_render_request(order, render)
    return render


def enqueue_render_request(order: Order, render: RenderRequest) -> None:
    """The RenderRequested event of a pending render, in the caller's transaction."""
    requested = events_pb2.RenderRequested(
        request_id=str(render.id),
        adapter_key=order.adapter_key,
        subject_phrase=subject_phrase(order.subject_class),
        render_spec=common_pb2.RenderSpec(style_ids=[render.style_id], images_per_style=render.count),
        existing_count=order.headshots.count(),
    )
    outbox.enqueue(bus.ORDERS_TOPIC, bus.new_event(str(order.id), render_requested=requested), order.traceparent)

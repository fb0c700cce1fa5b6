"""Creating an order, submitting it for training, and asking for more headshots from its adapter."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant
from gateway.config import CONFIG
from gateway.errors import Conflict, FailedPrecondition, InvalidArgument, PermissionDenied, ResourceExhausted
from gateway.observability import count_order_created
from headshots.v1 import common_pb2, events_pb2
from headshots_common import bus, tracing
from headshots_common.styles import PACKAGES, STYLES, images_per_style, subject_phrase
from orders import policy
from orders.models import Order, Photo, RenderRequest
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
    render_look: dict | None = None,
    test_mode: bool = False,
) -> Order:
    """`render_look`: a fixed look's exact render settings (`render_spec`), for a team member's order.
    `test_mode`: a test order though `tenant` is not in test mode (a member's order in a test-mode partner's team)."""
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
    if webhook_url and tenant.kind != Tenant.Kind.PARTNER:
        # Webhooks are signed with a partner's secret; consumers have none and follow their orders in the studio.
        message = "webhooks are for partners (signed with the partner's secret); consumers follow orders in the studio"
        raise InvalidArgument("webhooks_need_partner", message, details={"fields": {"webhook_url": [message]}})
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
        render_look=render_look or {},
        test_mode=tenant.test_mode or test_mode,
        purge_at=timezone.now() + policy.MAX_RETENTION,
    )
    order.traceparent = tracing.order_trace(str(order.id), str(tenant.id))
    order.save(force_insert=True)
    transaction.on_commit(lambda: count_order_created(order.test_mode))
    webhooks.enqueue(order, "order.created", order_summary(order))
    return order


def submit_order(order: Order) -> Order:
    """Queue the order for training: state change and OrderSubmitted event in one transaction.

    A consumer must have verified their e-mail first (preparing an order needs no verification; GPU work does).
    """
    tenant = order.tenant
    if tenant.kind == Tenant.Kind.CONSUMER and tenant.email_verified_at is None:
        raise PermissionDenied(
            "email_not_verified",
            "verify your e-mail address first: follow the link we e-mailed you, or ask for a new one",
        )
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.state != Order.State.AWAITING_PHOTOS:
            if order.state == Order.State.QUEUED:
                return order  # submitting twice is harmless
            raise Conflict("order_not_open", f"the order is already {order.state}")
        if order.photos.filter(state=Photo.State.CHECKING).exists():
            raise Conflict(
                "photos_being_checked",
                "some photos are still being checked; submit once each has its verdict (GET the order's photos)",
                details={"checking": order.photos.filter(state=Photo.State.CHECKING).count()},
            )
        photos = list(order.photos.filter(state=Photo.State.ACCEPTED).order_by("created_at"))
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


def render_spec(order: Order, style_ids: list[str], per_style: int) -> common_pb2.RenderSpec:
    """What the renderer renders for the order: with its recorded look's exact settings when it has one."""
    spec = common_pb2.RenderSpec(style_ids=style_ids, images_per_style=per_style)
    look = order.render_look
    if look:
        spec.look.CopyFrom(
            common_pb2.RenderLook(
                prompt=look["prompt"],
                negative_prompt=look["negative_prompt"],
                sampler=look["sampler"],
                num_inference_steps=look["num_inference_steps"],
                guidance_scale=look["guidance_scale"],
                seed_base=look["seed_base"],
            )
        )
    return spec


def enqueue_submission(order: Order, resubmitted: bool = False) -> None:
    """The OrderSubmitted event of a queued order, in the caller's transaction (none for a test order: the
    placeholder pipeline takes it up by its state, `test_mode`)."""
    if order.test_mode:
        return
    submitted = events_pb2.OrderSubmitted(
        tenant_id=str(order.tenant_id),
        photo_keys=[p.blob_key for p in order.photos.filter(state=Photo.State.ACCEPTED).order_by("created_at")],
        subject_class=order.subject_class,
        training_profile=common_pb2.TRAINING_PROFILE_STANDARD,
        render_spec=render_spec(order, order.style_ids, images_per_style(order.package, len(order.style_ids))),
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
    """The RenderRequested event of a pending render, in the caller's transaction (none for a test order)."""
    if order.test_mode:
        return
    requested = events_pb2.RenderRequested(
        render_id=str(render.id),
        adapter_key=order.adapter_key,
        subject_phrase=subject_phrase(order.subject_class),
        render_spec=render_spec(order, [render.style_id], render.count),
        existing_count=order.headshots.count(),
    )
    outbox.enqueue(bus.ORDERS_TOPIC, bus.new_event(str(order.id), render_requested=requested), order.traceparent)

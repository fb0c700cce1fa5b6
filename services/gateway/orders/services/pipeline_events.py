"""The trainer's and renderer's events move an order along its state machine (each handler idempotent)."""

from __future__ import annotations

from datetime import UTC, timedelta

from django.db import transaction
from django.utils import timezone

from gateway.observability import ORDERS_FINISHED
from headshots.v1 import events_pb2
from headshots_common import bus
from orders import quality
from orders.models import Headshot, Order, RenderRequest
from orders.policy import MAX_RETENTION, PROGRESS_WEBHOOK_STEP, TRAINING_SHARE
from orders.representation import order_summary
from orders.services import notifications
from orders.services.retention import record_cache_purge
from webhooks import services as webhooks


def apply_pipeline_event(event: events_pb2.Event) -> None:
    """Move an order along its state machine from a trainer or renderer event (idempotent)."""
    kind = bus.payload_kind(event)
    if kind == "caches_purged":  # reported after the deletion: it completes the receipt
        record_cache_purge(
            event.order_id,
            event.caches_purged.purged_by,
            event.caches_purged.entries,
            event.occur_time.ToDatetime(tzinfo=UTC),
        )
        return
    order = Order.objects.select_for_update().filter(pk=event.order_id).first()
    if order is None or order.state == Order.State.DELETED:
        return
    handler = _HANDLERS.get(kind)
    if handler is None:
        return
    if order.state in (Order.State.COMPLETED, Order.State.FAILED) and kind not in ("render_completed", "render_failed"):
        return  # late or duplicate training events never reopen a final order
    handler(order, getattr(event, kind))
    order.save()


def _on_training_progress(order: Order, progress) -> None:
    if order.state == Order.State.QUEUED:
        webhooks.enqueue(order, "order.training_started", {"total_steps": progress.total_steps})
    previous = order.progress_percent
    order.state, order.progress_stage = Order.State.TRAINING, "training"
    order.progress_percent = round(TRAINING_SHARE * progress.step / max(1, progress.total_steps))
    order.eta_seconds = progress.eta_seconds
    if order.progress_percent // PROGRESS_WEBHOOK_STEP > previous // PROGRESS_WEBHOOK_STEP:
        webhooks.enqueue(order, "order.progress", order_summary(order) | {"eta_s": progress.eta_seconds})


def _on_training_completed(order: Order, completed) -> None:
    order.state, order.progress_stage = Order.State.RENDERING, "rendering"
    order.progress_percent, order.eta_seconds = TRAINING_SHARE, None
    order.adapter_key = completed.adapter_key


def _on_render_progress(order: Order, progress) -> None:
    if order.render_requests.filter(state=RenderRequest.State.PENDING).exists():
        return  # an ad-hoc render of a delivered order: the order's own bar stays at 100%
    order.state, order.progress_stage = Order.State.RENDERING, "rendering"
    order.progress_percent = TRAINING_SHARE + round(
        (100 - TRAINING_SHARE) * progress.images_done / max(1, progress.images_total)
    )
    order.eta_seconds = progress.eta_seconds


def _on_render_completed(order: Order, completed) -> None:
    render = order.render_requests.filter(pk=completed.request_id).first() if completed.request_id else None
    if (render is None and order.completed_at is not None) or (render is not None and render.completed_at):
        return  # announced again (after a resubmission): delivered already, nothing changes
    for h in completed.headshots:
        Headshot.objects.get_or_create(
            blob_key=h.key,
            defaults=dict(
                order=order,
                style_id=h.style_id,
                seed=h.seed,
                width=h.width,
                height=h.height,
                likeness_score=h.likeness_score,
                quality_score=h.quality_score,
                consistency_score=h.consistency_score,
                gated=h.gated,
                render_request=render,
            ),
        )
    order.headshots_ready = order.headshots.count()
    order.quality = quality.add_render(order, completed.quality)
    now = timezone.now()
    order.state, order.progress_stage = Order.State.COMPLETED, "done"
    order.progress_percent, order.eta_seconds = 100, 0.0
    if render is not None:
        render.state, render.completed_at = RenderRequest.State.COMPLETED, now
        render.save()
        webhooks.enqueue(
            order, "order.render_completed", {"render_id": str(render.id), "headshots": len(completed.headshots)}
        )
        notifications.headshots_ready(order, len(completed.headshots))
        return
    order.completed_at = now
    transaction.on_commit(lambda: ORDERS_FINISHED.labels("completed").inc())
    # Retention counts from delivery, never past the 35-day cap set at creation.
    order.purge_at = min(now + timedelta(hours=order.retention_hours), order.created_at + MAX_RETENTION)
    webhooks.enqueue(order, "order.completed", order_summary(order) | {"headshots": order.headshots_ready})
    notifications.headshots_ready(order, order.headshots_ready)


def _on_failed(order: Order, failure) -> None:
    reason = failure.message or events_pb2.FailureReason.Name(failure.reason)
    request_id = getattr(failure, "request_id", "")
    if request_id:  # a failed ad-hoc render leaves the delivered order as it was
        order.render_requests.filter(pk=request_id).update(state=RenderRequest.State.FAILED, failure_reason=reason)
        order.state, order.progress_stage = Order.State.COMPLETED, "done"
        return
    order.state, order.progress_stage, order.failure_reason = Order.State.FAILED, "failed", reason
    transaction.on_commit(lambda: ORDERS_FINISHED.labels("failed").inc())
    webhooks.enqueue(order, "order.failed", order_summary(order))


_HANDLERS = {
    "training_progress": _on_training_progress,
    "training_completed": _on_training_completed,
    "render_progress": _on_render_progress,
    "render_completed": _on_render_completed,
    "training_failed": _on_failed,
    "render_failed": _on_failed,
}

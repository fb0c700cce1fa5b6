"""The trainer's and renderer's events move an order along its state machine (each handler idempotent)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC

from django.db import transaction
from django.utils import timezone

from gateway.observability import count_order_finished
from headshots.v1 import events_pb2
from headshots_common import bus
from orders import quality
from orders.models import Headshot, Order, RenderRequest
from orders.policy import PROGRESS_WEBHOOK_STEP, TRAINING_SHARE
from orders.representation import order_summary
from orders.services import notifications, retention
from webhooks import services as webhooks


def apply_pipeline_event(event: events_pb2.Event) -> None:
    """Move an order along its state machine from a trainer or renderer event (idempotent)."""
    kind = bus.payload_kind(event)
    if kind == "caches_purged":  # reported after the deletion: it completes the receipt
        purged = event.caches_purged
        at = event.occur_time.ToDatetime(tzinfo=UTC)
        retention.record_cache_purge(event.order_id, purged.purged_by, purged.entries, purged.entries_kept, at)
        return
    if kind == "cache_holder_present":  # about a process, not an order: whom a deletion waits for
        present = event.cache_holder_present
        at = event.occur_time.ToDatetime(tzinfo=UTC)
        retention.record_cache_holder(present.holder, present.interval_s, present.stopping, at)
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


def _count_finished(order: Order, state: str) -> None:
    test_mode = order.test_mode
    transaction.on_commit(lambda: count_order_finished(test_mode, state))


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


def _short_styles(order: Order, shortfall: list[dict]) -> list[dict]:
    """The entries of `shortfall` whose style still has fewer headshots than wanted, every render counted."""
    counts = Counter(order.headshots.values_list("style_id", flat=True))
    return [{**s, "delivered": counts[s["style_id"]]} for s in shortfall if counts[s["style_id"]] < s["wanted"]]


def _on_render_completed(order: Order, completed) -> None:
    render = order.render_requests.filter(pk=completed.render_id).first() if completed.render_id else None
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
        waiting = order.awaiting_decision
        order.shortfall = _short_styles(order, order.shortfall)  # the missing ones may have come now
        if waiting and not order.awaiting_decision and order.training_data_purged_at is None:
            order.purge_at = retention.purge_time(order, now)  # whole at last: the retention clock starts
        webhooks.enqueue(
            order,
            "order.render_completed",
            {"render_id": str(render.id), "requested": render.count, "headshots": len(completed.headshots)},
        )
        reasons = [s.main_reason for s in completed.quality.shortfall]
        notifications.render_delivered(order, render, len(completed.headshots), reasons[0] if reasons else "")
        return
    order.completed_at = now
    short = completed.quality.shortfall
    order.shortfall = _short_styles(
        order, [quality.shortfall_entry(s.style_id, s.wanted, s.delivered, s.main_reason) for s in short]
    )
    _count_finished(order, "completed")
    order.purge_at = retention.purge_time(order, now)
    webhooks.enqueue(
        order,
        "order.completed",
        order_summary(order)
        | {"headshots": order.headshots_ready, "delivery": order.delivery, "shortfall": order.shortfall},
    )
    notifications.order_delivered(order)


def _on_failed(order: Order, failure) -> None:
    reason = failure.message or events_pb2.FailureReason.Name(failure.reason)
    render_id = getattr(failure, "render_id", "")  # RenderFailed has one, TrainingFailed not
    if render_id:  # a failed ad-hoc render leaves the delivered order as it was
        order.render_requests.filter(pk=render_id).update(state=RenderRequest.State.FAILED, failure_reason=reason)
        order.state, order.progress_stage = Order.State.COMPLETED, "done"
        return
    order.state, order.progress_stage, order.failure_reason = Order.State.FAILED, "failed", reason
    _count_finished(order, "failed")
    webhooks.enqueue(order, "order.failed", order_summary(order))


_HANDLERS = {
    "training_progress": _on_training_progress,
    "training_completed": _on_training_completed,
    "render_progress": _on_render_progress,
    "render_completed": _on_render_completed,
    "training_failed": _on_failed,
    "render_failed": _on_failed,
}

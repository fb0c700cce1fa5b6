"""Test mode: a test-mode partner's orders (`accounts.Tenant.test_mode`), and its teams' members' orders, are
trained and rendered here, in the gateway worker, within seconds and at no GPU cost. An order is a test order or
not from its creation on (`Order.test_mode`, which the API shows).

Nothing of a test order goes to the orders topic, so the trainer and renderer never hear of it (`creation` and
`retention` ask `Order.test_mode` before they announce work or a purge). Instead `advance` moves every test order in
flight one step per turn of the worker's loop, by the same pipeline events the trainer and renderer send
(`pipeline_events.apply_pipeline_event`, exactly once each): so the state machine, progress, webhooks, quality
report, renders, downloads and deletion are the real ones, and the headshots are labelled placeholders (Pillow),
stored in the order's real blob layout.
"""

from __future__ import annotations

import io
import logging

from django.db import transaction
from PIL import Image, ImageColor, ImageDraw, ImageFont

from gateway.blobs import blob_store
from headshots.v1 import common_pb2, events_pb2
from headshots_common import blob_layout, bus
from headshots_common.styles import STYLES, images_per_style
from orders.models import Order, RenderRequest
from orders.policy import TRAINING_SHARE
from outbox import services as outbox

log = logging.getLogger(__name__)

# Training "steps" a test order reports, one per turn of the loop: enough for progress bars and webhooks to move.
TRAINING_STEPS = 4
IN_FLIGHT = (Order.State.QUEUED, Order.State.TRAINING, Order.State.RENDERING)
PLACEHOLDER_SIZE = 512
PLACEHOLDER_ADAPTER = b"test mode: a placeholder; no adapter was trained for this order\n"
# The placeholder pipeline's lease: a real trainer's fencing token is 1 or more.
TEST_LEASE = 0


def placeholder_png(style_id: str, index: int, backdrop_hex: str = "") -> bytes:
    """A headshot-sized PNG on the style's backdrop colour (or a team's brand backdrop) that says what it is: a
    test-mode placeholder."""
    style = STYLES[style_id]
    backdrop = ImageColor.getrgb(backdrop_hex or style.swatch)
    image = Image.new("RGB", (PLACEHOLDER_SIZE, PLACEHOLDER_SIZE), backdrop)
    draw = ImageDraw.Draw(image)
    ink = (0, 0, 0) if sum(backdrop) > 384 else (255, 255, 255)
    draw.ellipse((176, 96, 336, 276), outline=ink, width=6)  # a head and shoulders, so it reads as a portrait
    draw.arc((96, 300, 416, 620), 180, 360, fill=ink, width=6)
    font = ImageFont.load_default(size=40)
    small = ImageFont.load_default(size=24)
    draw.text((256, 40), "TEST MODE", fill=ink, font=font, anchor="mm")
    draw.text((256, 440), f"{style.name} #{index + 1}", fill=ink, font=small, anchor="mm")
    draw.text((256, 476), "placeholder, not a real headshot", fill=ink, font=small, anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _training_step(order: Order) -> int:
    """How many training steps the order has reported, from its progress (TRAINING_SHARE percent at the end)."""
    if order.state == Order.State.QUEUED:
        return 0
    return round(order.progress_percent * TRAINING_STEPS / TRAINING_SHARE)


def _render(order: Order, render_id: str, styles: list[str], per_style: int, start: int) -> events_pb2.RenderCompleted:
    store = blob_store()
    headshots = []
    for style_id in styles:
        for index in range(start, start + per_style):
            key = blob_layout.headshot_key(str(order.id), render_id, style_id, index)
            store.put(key, placeholder_png(style_id, index, order.render_look.get("backdrop_hex", "")))
            headshots.append(
                common_pb2.Headshot(
                    key=key, style_id=style_id, seed=index, width=PLACEHOLDER_SIZE, height=PLACEHOLDER_SIZE
                )
            )
    quality = events_pb2.QualityReport(generated=len(headshots), delivered=len(headshots), gated=False)
    event_render_id = "" if render_id == blob_layout.PACK_RENDER_ID else render_id  # as the events carry it
    return events_pb2.RenderCompleted(headshots=headshots, render_id=event_render_id, quality=quality)


def _next_event(order: Order) -> events_pb2.Event:
    """The event the trainer or renderer would send next for this order."""
    order_id = str(order.id)
    pending = order.render_requests.filter(state=RenderRequest.State.PENDING).order_by("created_at").first()
    if pending is not None:  # "n more in a style" of a delivered order
        completed = _render(order, str(pending.id), [pending.style_id], pending.count, order.headshots.count())
        return bus.new_event(order_id, render_completed=completed)
    if order.state == Order.State.RENDERING:
        per_style = images_per_style(order.package, len(order.style_ids))
        completed = _render(order, blob_layout.PACK_RENDER_ID, order.style_ids, per_style, 0)
        return bus.new_event(order_id, render_completed=completed)
    step = _training_step(order)
    if step < TRAINING_STEPS:
        eta = float(TRAINING_STEPS - step)  # a turn of the loop per step
        progress = events_pb2.TrainingProgress(step=step + 1, total_steps=TRAINING_STEPS, eta_seconds=eta)
        return bus.new_event(order_id, training_progress=progress)
    adapter_key = blob_layout.adapter_key(order_id, TEST_LEASE)
    blob_store().put(adapter_key, PLACEHOLDER_ADAPTER)
    return bus.new_event(order_id, training_completed=events_pb2.TrainingCompleted(adapter_key=adapter_key))


def advance(limit: int = 50) -> int:
    """Move each test order in flight (at most `limit`) one step on; returns how many moved.

    Each step is taken under the order's row lock, from its state as stored, so two workers never take the same
    step twice, and a deleted order (its tombstone stops every blob write) is left alone.
    """
    from orders.services.pipeline_events import apply_pipeline_event

    in_flight = Order.objects.filter(test_mode=True, state__in=IN_FLIGHT).order_by("updated_at")
    moved = 0
    for order_id in list(in_flight.values_list("id", flat=True)[:limit]):
        with transaction.atomic():
            order = Order.objects.select_for_update().filter(pk=order_id).first()
            if order is None or order.state not in IN_FLIGHT:
                continue  # it moved or was deleted meanwhile
            outbox.consume_once(_next_event(order), apply_pipeline_event)
        moved += 1
    return moved

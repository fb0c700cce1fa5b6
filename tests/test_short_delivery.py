"""An order whose adapter the quality gate always rejects, through the real pieces: the gateway's order, selfies and
event handling, a LoRA the trainer trains, the renderer dispatcher and RendererService (tiny model, gate on:
it draws no faces) and the broker between them.

The renderer tops up each style twice, then reports the shortfall; the order says it is short (not "ready" in its
e-mail), and keeps the selfies and the adapter past the retention period until the person accepts.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import torch
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import Tenant
from accounts.services import create_tenant_with_key
from checker import services as checker
from gateway.blobs import blob_store
from gateway.config import CONFIG
from headshots.v1 import common_pb2, events_pb2
from headshots_common import blob_layout, bus
from headshots_common.styles import images_per_style, subject_phrase
from orders.services import creation, photos
from orders.services.pipeline_events import apply_pipeline_event
from orders.services.retention import purge_expired
from outbox.services import consume_once
from renderer.config import load
from renderer.dispatcher import RenderDispatcher
from trainer.training import TrainingParams, load_pipeline, remove_adapters, train_lora

STYLES = ["corporate-navy", "tech-grey"]


def _train_adapter(tiny_model: str, person_photos, out_dir) -> bytes:
    """A real LoRA of the person, as the trainer makes it (two steps on the tiny model)."""
    pipe = load_pipeline(tiny_model, torch.device("cpu"))
    try:
        result = train_lora(
            pipe,
            [Image.open(p) for p in person_photos[:2]],
            "a photo of sks person",
            out_dir,
            TrainingParams(steps=2, rank=4, learning_rate=1e-2, batch_size=1, resolution=0, seed=0),
        )
    finally:
        remove_adapters(pipe)
    return result.adapter_path.read_bytes()


def test_a_delivery_the_gate_rejects_is_topped_up_stated_and_held_until_accepted(
    db,
    tiny_model,
    person_photos,
    tmp_path,
    kafka_bootstrap,
    renderer_service,
    rendering_events,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    tenant, key = create_tenant_with_key("Ada", kind=Tenant.Kind.CONSUMER)
    Tenant.objects.filter(pk=tenant.pk).update(email="ada@example.com")
    tenant.refresh_from_db()
    consumer = APIClient()
    consumer.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    order = creation.create_order(tenant, package="trial", style_ids=STYLES)
    order_id = str(order.id)
    outcomes = photos.add_photos(order, [(p.name, p.read_bytes()) for p in person_photos])
    assert all(o.photo is not None for o in outcomes), [o.rejection for o in outcomes]
    for outcome in outcomes:  # the photo checker's own code, in this process (the test runs in a transaction)
        received = events_pb2.PhotoReceived(photo_id=str(outcome.photo.id), quarantine_key=outcome.photo.quarantine_key)
        checker.check(order_id, received)
    adapter_key = blob_layout.adapter_key(order_id, 1)
    blob_store().put(adapter_key, _train_adapter(tiny_model, person_photos, tmp_path / "adapter"))

    # The trainer's announcement (with the order's render spec, passed through from its submission).
    wanted = images_per_style(order.package, len(STYLES))
    trained = bus.new_event(
        order_id,
        training_completed=events_pb2.TrainingCompleted(
            adapter_key=adapter_key,
            subject_phrase=subject_phrase(order.subject_class),
            render_spec=common_pb2.RenderSpec(style_ids=STYLES, images_per_style=wanted),
        ),
    )
    consume_once(trained, apply_pipeline_event)

    # The renderer, gate on, with the gateway's blob store.
    renderer = renderer_service(blob_store())
    bus.ensure_topics(kafka_bootstrap)
    shared = dataclasses.replace(CONFIG.shared, kafka_bootstrap=kafka_bootstrap, base_model=tiny_model)
    config = dataclasses.replace(load(), shared=shared, grpc_target=renderer.target, quality_gate=True)
    assert config.top_up_rounds == 2, "the default"
    dispatcher = RenderDispatcher(config)
    try:
        dispatcher.handle(trained)
    finally:
        dispatcher.publisher.close()
        dispatcher.channel.close()
    assert len(renderer.requests) == 3, "the first render and two top-up rounds"
    assert renderer.rendered() == 3 * len(STYLES) * 3  # ceil(2 x 1.25) per style, each round: nothing passed

    # The gateway reads what the renderer published.
    with django_capture_on_commit_callbacks(execute=True):
        for event in rendering_events(order_id):
            consume_once(event, apply_pipeline_event)
    body = consumer.get(f"/v1/orders/{order_id}").json()
    assert (body["state"], body["delivery"], body["counts"]["headshots"]) == ("completed", "short", 0)
    assert [(s["style_id"], s["wanted"], s["delivered"], s["reason"]) for s in body["shortfall"]] == [
        (style, wanted, 0, "no_face") for style in STYLES
    ]
    report = consumer.get(f"/v1/orders/{order_id}/report").json()
    assert (report["generated"], report["delivered"], report["top_up_rounds"]) == (renderer.rendered(), 0, 2)
    [mail] = mailoutbox
    assert "ready" not in f"{mail.subject} {mail.body}".lower(), mail.subject
    assert "none of the 4 headshots you ordered passed our quality checks, even after" in mail.body
    assert "Accept" in mail.body

    # The retention period passes: the selfies and the adapter stay while the person can still act.
    def training_data() -> list[str]:
        prefix = blob_layout.order_prefix(order_id)
        return [k for k in blob_store().list(prefix) if not blob_layout.is_headshot_key(order_id, k)]

    held = training_data()
    assert adapter_key in held and sum(map(blob_layout.is_photo_key, held)) == 5
    after_retention = timezone.now() + timedelta(hours=order.retention_hours + 1)
    assert purge_expired(after_retention) == 0 and training_data() == held

    assert consumer.post(f"/v1/orders/{order_id}/accept").status_code == 200
    assert purge_expired(after_retention) == 1 and training_data() == []

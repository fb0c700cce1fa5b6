"""The dispatcher against a real RendererService (gRPC server, engine, tiny model: `renderer_service` in the root
conftest) and a real broker.

The tiny model draws no faces, so with the quality gate on every image fails (`no_face`): the adapter the gate
always rejects. A style short of its count is rendered again with new seeds for a bounded number of rounds,
and what is still missing is stated per style in the RenderCompleted the gateway receives.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from google.protobuf import json_format

from headshots.v1 import common_pb2, events_pb2
from headshots_common import blob_layout, bus
from headshots_common.blobstore import LocalBlobStore
from headshots_common.settings import SharedSettings
from renderer.config import load
from renderer.dispatcher import RenderDispatcher
from renderer.likeness import candidates_per_style

STYLES = ["corporate-navy", "tech-grey"]
WANTED = 2  # per style
TOP_UP_ROUNDS = 2


@pytest.fixture
def blobs(tmp_path) -> LocalBlobStore:
    """The store the replica and the dispatcher share, holding each order's selfies and adapter."""
    return LocalBlobStore(tmp_path / "blobs")


def put_order(blobs: LocalBlobStore, order_id: str, lora_file, photos) -> None:
    """The order's selfies and adapter, as the gateway and the trainer store them."""
    for n, photo in enumerate(photos[:3]):
        blobs.put(blob_layout.photo_key(order_id, f"p{n}"), photo.read_bytes())
    blobs.put(blob_layout.adapter_key(order_id, 1), lora_file.read_bytes())


@pytest.fixture
def renderer(renderer_service, blobs):
    return renderer_service(blobs)


@pytest.fixture
def dispatch(tmp_path, renderer, kafka_bootstrap, tiny_model):
    """Handle one event with a dispatcher (gate on or off) on the shared store; returns the dispatcher."""
    bus.ensure_topics(kafka_bootstrap)

    def run(event: events_pb2.Event, gate: bool) -> RenderDispatcher:
        shared = SharedSettings(
            var_dir=tmp_path,
            kafka_bootstrap=kafka_bootstrap,
            blob_url=f"file://{tmp_path / 'blobs'}",
            base_model=tiny_model,
            base_model_arch="sd15",
        )
        config = dataclasses.replace(
            load(), shared=shared, grpc_target=renderer.target, quality_gate=gate, top_up_rounds=TOP_UP_ROUNDS
        )
        dispatcher = RenderDispatcher(config)
        try:
            dispatcher.handle(event)
        finally:
            dispatcher.publisher.close()
            dispatcher.channel.close()
        return dispatcher

    return run


def training_completed(order_id: str) -> events_pb2.Event:
    return bus.new_event(
        order_id,
        training_completed=events_pb2.TrainingCompleted(
            adapter_key=blob_layout.adapter_key(order_id, 1),
            subject_phrase="sks person",
            render_spec=common_pb2.RenderSpec(style_ids=STYLES, images_per_style=WANTED),
        ),
    )


def test_a_style_short_of_its_count_is_topped_up_then_the_shortfall_is_stated(
    dispatch, renderer, blobs, lora_files, person_photos, rendering_events
):
    order_id = "short-order"
    put_order(blobs, order_id, lora_files["a1"], person_photos)
    dispatch(training_completed(order_id), gate=True)

    first = candidates_per_style(WANTED, load().overgenerate)
    # Every image fails, so each round renders every style's missing images again, with new seeds.
    assert [len(r.items) for r in renderer.requests] == [len(STYLES) * first] * (1 + TOP_UP_ROUNDS)
    seeds = renderer.seeds()
    assert len(set(seeds)) == len(seeds), "a top-up round never repeats a seed"
    [completed] = [e.render_completed for e in rendering_events(order_id, "render_completed")]
    report = completed.quality
    assert (report.generated, report.delivered, report.top_up_rounds) == (renderer.rendered(), 0, TOP_UP_ROUNDS)
    assert list(completed.headshots) == []
    assert [(s.style_id, s.wanted, s.delivered, s.main_reason) for s in report.shortfall] == [
        (style, WANTED, 0, "no_face") for style in STYLES
    ]

    # Rendered again from the start (the manifest was never written: a crash before it), the same seeds come.
    blobs.delete(blob_layout.render_manifest_key(order_id, blob_layout.PACK_RENDER_ID))
    renderer.requests.clear()
    dispatch(training_completed(order_id), gate=True)
    assert renderer.seeds() == seeds
    # Redelivered after the manifest: nothing is rendered, the same outcome is announced.
    renderer.requests.clear()
    dispatch(training_completed(order_id), gate=True)
    assert renderer.requests == []
    announced = [e.render_completed for e in rendering_events(order_id, "render_completed")]
    assert len(announced) == 3 and announced[-1].quality == report


def test_a_complete_pack_is_not_topped_up_and_has_no_shortfall(dispatch, renderer, blobs, lora_files, person_photos):
    order_id = "complete-order"
    put_order(blobs, order_id, lora_files["a2"], person_photos)
    dispatch(training_completed(order_id), gate=False)  # ungated: every image is eligible

    assert len(renderer.requests) == 1
    manifest = blobs.get(blob_layout.render_manifest_key(order_id, blob_layout.PACK_RENDER_ID))
    completed = events_pb2.RenderCompleted()
    json_format.Parse(manifest, completed)
    assert Counter(h.style_id for h in completed.headshots) == dict.fromkeys(STYLES, WANTED)
    assert list(completed.quality.shortfall) == [] and completed.quality.top_up_rounds == 0

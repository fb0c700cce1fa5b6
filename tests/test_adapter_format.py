"""The adapter format has one definition: every adapter the trainer can make, with every training option and
on either architecture, loads in the renderer and changes what it renders; the manifest round-trips."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from headshots.v1 import renderer_service_pb2 as pb
from headshots_common import blob_layout
from headshots_common.adapter_format import ADAPTER_FILE_NAME, AdapterManifest, PriorPreservation
from headshots_common.blobstore import LocalBlobStore
from renderer.engine import EngineSettings, RenderEngine
from trainer.training import PriorData, TrainingParams, load_pipeline, remove_adapters, train_lora

BASE = TrainingParams(steps=2, rank=4, learning_rate=1e-2, batch_size=1, resolution=0, seed=0)
OPTIONS = {
    "defaults": {},
    "rank 16": {"rank": 16},
    "batch 2": {"batch_size": 2},
    "augmentation": {"augment_variants": 2},
    "text encoders": {"train_text_encoder": True},
    "prior preservation": {"prior": True},
    "everything": {"rank": 8, "augment_variants": 1, "train_text_encoder": True, "prior": True},
}


@pytest.fixture(scope="module")
def models(tiny_model, tmp_path_factory) -> dict[str, str]:
    from headshots_tools.tinymodel import generate_tiny_base_model

    return {"sd15": tiny_model, "sdxl": str(generate_tiny_base_model(tmp_path_factory.mktemp("xl") / "tiny", "sdxl"))}


def _render(engine: RenderEngine, adapter_id: str | None) -> np.ndarray:
    ref = (
        pb.AdapterRef(adapter_id=adapter_id, adapter_key=blob_layout.adapter_key(adapter_id, 1)) if adapter_id else None
    )
    request = pb.RenderRequest(
        subject_phrase="sks person", adapter=ref, items=[pb.RenderItem(style_id="tech-grey", seed=3)]
    )
    return np.asarray(next(iter(engine.render(request))).image.convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize("arch", ["sd15", "sdxl"])
def test_every_adapter_the_trainer_makes_loads_in_the_renderer(models, arch, person_photos, tmp_path):
    trainer_pipe = load_pipeline(models[arch], torch.device("cpu"))
    photos = [Image.open(p) for p in person_photos[:2]]
    class_images = [Image.new("RGB", (128, 128), (40 * i, 90, 160)) for i in range(2)]
    blobs = LocalBlobStore(tmp_path / "blobs")
    for name, option in OPTIONS.items():
        option = dict(option)
        prior = PriorData(class_images, "a photo of person") if option.pop("prior", False) else None
        try:
            result = train_lora(
                trainer_pipe,
                photos,
                "a photo of sks person",
                tmp_path / "out" / name.replace(" ", "-"),
                dataclasses.replace(BASE, **option),
                prior=prior,
            )
        finally:
            remove_adapters(trainer_pipe)
        assert result.adapter_path.name == ADAPTER_FILE_NAME
        blobs.put(blob_layout.adapter_key(name.replace(" ", "-"), 1), result.adapter_path.read_bytes())

    from diffusers import DiffusionPipeline

    render_pipe = DiffusionPipeline.from_pretrained(models[arch])
    render_pipe.set_progress_bar_config(disable=True)
    engine = RenderEngine(render_pipe, blobs, EngineSettings(default_steps=2, adapter_slots=len(OPTIONS)))
    try:
        bare = _render(engine, None)
        for name, option in OPTIONS.items():
            adapter_id = name.replace(" ", "-")
            assert np.abs(_render(engine, adapter_id) - bare).max() > 0, f"{arch} {name}: the adapter changed nothing"
            assert engine.adapters.changes_text_encoders(adapter_id) == bool(option.get("train_text_encoder"))
    finally:
        engine.close()


def test_the_manifest_round_trips_and_refuses_what_it_cannot_read():
    manifest = AdapterManifest(
        order_id="o1",
        adapter_key=blob_layout.adapter_key("o1", 1),
        base_model="tiny",
        base_model_hash="0" * 64,
        base_model_arch="sd15",
        token="sks",
        subject_phrase="sks person",
        instance_prompt="a photo of sks person",
        rank=8,
        steps=60,
        batch_size=1,
        learning_rate=1e-3,
        resolution=128,
        resumed_from_step=0,
        seconds=4.2,
        train_text_encoder=True,
        augment_variants=2,
        prior_preservation=PriorPreservation("a photo of person", 50, 1.0, "priors/x/person/128/"),
        metrics={"final_loss": 0.1, "likeness": 0.0},
    )
    assert AdapterManifest.from_json(manifest.to_json()) == manifest
    with pytest.raises(ValueError, match="version"):
        AdapterManifest.from_json(b'{"version": 99}')
    with pytest.raises(ValueError, match="lacks"):
        AdapterManifest.from_json(b'{"version": 1, "order_id": "o1"}')
    with pytest.raises(ValueError, match="not JSON"):
        AdapterManifest.from_json(b"{")

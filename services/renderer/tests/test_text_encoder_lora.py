"""Adapters that trained the text encoders too: rendered in the same batches, equal to diffusers' own path."""

from __future__ import annotations

import queue
from pathlib import Path

import numpy as np
import pytest
import torch
from lora_helpers import make_adapter, sd_pipe

from headshots.v1 import renderer_service_pb2 as pb
from headshots_common import blob_layout
from headshots_common.blobstore import LocalBlobStore
from headshots_common.styles import NEGATIVE_PROMPT, STYLES
from renderer.engine import EngineSettings, RenderEngine

STEPS = 2
GREY_LEVELS = 2
STYLE = "corporate-navy"


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def request(adapter: str | None, seed: int) -> pb.RenderRequest:
    ref = pb.AdapterRef(adapter_id=adapter, adapter_key=blob_layout.adapter_key(adapter, 1)) if adapter else None
    return pb.RenderRequest(subject_phrase="sks person", adapter=ref, items=[pb.RenderItem(style_id=STYLE, seed=seed)])


def diffusers_render(pipe, adapter: Path | None, seed: int):
    if adapter is not None:
        pipe.load_lora_weights(str(adapter.parent), weight_name=adapter.name, adapter_name="reference")
    return pipe(
        prompt=STYLES[STYLE].prompt("sks person"),
        negative_prompt=NEGATIVE_PROMPT,
        num_inference_steps=STEPS,
        guidance_scale=5.0,
        generator=torch.Generator().manual_seed(seed),
    ).images[0]


@pytest.fixture(scope="module")
def sd15_adapters(tiny_model, tmp_path_factory) -> dict[str, Path]:
    pipe = sd_pipe(tiny_model)
    root = tmp_path_factory.mktemp("te-adapters")
    return {
        "with-text": make_adapter(pipe.unet, 4, 11, root / "with-text", {"text_encoder": pipe.text_encoder}),
        "unet-only": make_adapter(pipe.unet, 8, 12, root / "unet-only"),
    }


def engine_with(pipe, tmp_path: Path, files: dict[str, Path]) -> RenderEngine:
    blobs = LocalBlobStore(tmp_path / "blobs")
    for name, path in files.items():
        blobs.put(blob_layout.adapter_key(name, 1), path.read_bytes())
    return RenderEngine(pipe, blobs, EngineSettings(default_steps=STEPS, max_wait_s=0.5))


def test_text_encoder_adapters_share_a_batch_and_equal_diffusers(tiny_model, sd15_adapters, tmp_path):
    engine = engine_with(sd_pipe(tiny_model), tmp_path, sd15_adapters)
    try:
        jobs = {name: request(name, seed) for name, seed in (("with-text", 1), ("unet-only", 2), (None, 3))}
        results: dict[str | None, queue.Queue] = {name: queue.Queue() for name in jobs}
        for name, req in jobs.items():
            engine.submit(req, lambda image, result, out=results[name]: out.put(result))
        images = {name: out.get(timeout=120).image for name, out in results.items()}
        assert engine.batch_sizes == [3], "the three requests shared one denoising batch"
        assert engine.stats()["prompts_cached"] == 2, "the text-encoder adapter's prompt is encoded apart"
        for name, seed in (("with-text", 1), ("unet-only", 2), (None, 3)):
            reference = diffusers_render(sd_pipe(tiny_model), sd15_adapters.get(name), seed)
            assert np.abs(pixels(images[name]) - pixels(reference)).max() <= GREY_LEVELS, name
        without_text = diffusers_render(sd_pipe(tiny_model), None, 1)  # the adapter visibly changes the image
        assert np.abs(pixels(images["with-text"]) - pixels(without_text)).max() > 10

        slot = engine.adapters.slots.lookup("with-text")
        text_bank = engine.text_banks["text_encoder"]
        assert any(layer.A[slot].any() for layer in text_bank.layers.values())
        assert engine.evict("with-text")
        assert engine.stats()["prompts_cached"] == 1, "its embeddings went with the adapter"
        assert not any(layer.A[slot].any() or layer.B[slot].any() for layer in text_bank.layers.values())
    finally:
        engine.close()


def test_an_sdxl_adapter_with_both_text_encoders_equals_diffusers(tmp_path):
    from diffusers import StableDiffusionXLPipeline

    from headshots_tools.tinymodel import generate_tiny_base_model

    model = generate_tiny_base_model(tmp_path / "tiny-sdxl", "sdxl")

    def sdxl():
        pipe = StableDiffusionXLPipeline.from_pretrained(model)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    pipe = sdxl()
    adapter = make_adapter(
        pipe.unet,
        4,
        21,
        tmp_path / "xl",
        {"text_encoder": pipe.text_encoder, "text_encoder_2": pipe.text_encoder_2},
        pipeline_class=StableDiffusionXLPipeline,
    )
    engine = engine_with(sdxl(), tmp_path, {"xl": adapter})
    try:
        rendered = [r.image for r in engine.render(request("xl", 5))]
        assert set(engine.text_banks) == {"text_encoder", "text_encoder_2"}
    finally:
        engine.close()
    reference = diffusers_render(sdxl(), adapter, 5)
    assert np.abs(pixels(rendered[0]) - pixels(reference)).max() <= GREY_LEVELS


def test_an_adapter_for_text_encoders_the_base_model_lacks_is_refused(tiny_model, tmp_path):
    from diffusers import StableDiffusionXLPipeline

    from headshots_tools.tinymodel import generate_tiny_base_model

    xl = StableDiffusionXLPipeline.from_pretrained(generate_tiny_base_model(tmp_path / "tiny-sdxl", "sdxl"))
    adapter = make_adapter(
        xl.unet, 4, 31, tmp_path / "xl", {"text_encoder_2": xl.text_encoder_2}, pipeline_class=StableDiffusionXLPipeline
    )
    engine = engine_with(sd_pipe(tiny_model), tmp_path, {"xl": adapter})
    try:
        with pytest.raises(ValueError, match="text_encoder_2"):
            engine.submit(request("xl", 1), lambda image, result: None)
    finally:
        engine.close()

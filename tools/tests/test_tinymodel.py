"""The tiny offline base models (headshots_tools.tinymodel) load and render with diffusers and take peft LoRAs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from headshots_common.adapter_format import UNET_TARGET_MODULES
from headshots_common.basemodel import native_resolution
from headshots_tools.tinymodel import ensure_tiny_base_model, generate_tiny_base_model
from headshots_tools.tinymodel.tokenizer import PROMPT_WORDS

PROMPT = "a studio headshot photo of sks person"
LORA_TARGETS = list(UNET_TARGET_MODULES)


@pytest.fixture(scope="module")
def sd15_model(tmp_path_factory) -> Path:
    return generate_tiny_base_model(tmp_path_factory.mktemp("base") / "tiny-sd15", "sd15")


def file_hashes(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def render(pipe, prompt: str = PROMPT, seed: int = 0, output_type: str = "pil"):
    generator = torch.Generator().manual_seed(seed)
    return pipe(prompt, num_inference_steps=2, generator=generator, output_type=output_type).images[0]


def load_pipeline(path: Path):
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(path)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_sd15_generation_is_deterministic_and_atomic(tmp_path):
    first = generate_tiny_base_model(tmp_path / "a", "sd15")
    second = generate_tiny_base_model(tmp_path / "b", "sd15")

    hashes = file_hashes(first)
    assert hashes == file_hashes(second)
    expected = {
        "model_index.json",
        "scheduler/scheduler_config.json",
        "text_encoder/model.safetensors",
        "tokenizer/merges.txt",
        "tokenizer/vocab.json",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
    }
    assert expected <= set(hashes)
    # The staging folders were renamed into place: nothing else is left beside the models.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a", "b"]


def test_sd15_pipeline_renders_deterministically(sd15_model):
    from diffusers import DDPMScheduler, StableDiffusionPipeline

    pipe = load_pipeline(sd15_model)
    assert isinstance(pipe, StableDiffusionPipeline)
    assert pipe.safety_checker is None
    assert native_resolution(pipe) == native_resolution(sd15_model) == 128

    image = render(pipe)
    assert image.size == (128, 128)
    assert np.array_equal(np.asarray(image), np.asarray(render(pipe)))
    assert not np.array_equal(np.asarray(image), np.asarray(render(pipe, "a portrait of a woman")))
    # Trainers build their noise scheduler from the same folder.
    assert DDPMScheduler.from_pretrained(sd15_model, subfolder="scheduler").config.num_train_timesteps == 1000


def test_sdxl_pipeline_renders(tmp_path):
    from diffusers import StableDiffusionXLPipeline

    model = generate_tiny_base_model(tmp_path / "tiny-sdxl", "sdxl")
    assert (model / "text_encoder_2").is_dir() and (model / "tokenizer_2").is_dir()

    pipe = load_pipeline(model)
    assert isinstance(pipe, StableDiffusionXLPipeline)
    assert native_resolution(pipe) == 128
    image = render(pipe)
    assert image.size == (128, 128)
    assert np.asarray(image).std() > 0


def test_peft_lora_round_trips_and_changes_the_image(sd15_model, tmp_path):
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    trained = load_pipeline(sd15_model)
    lora = LoraConfig(r=4, lora_alpha=4, init_lora_weights="gaussian", target_modules=LORA_TARGETS)
    trained.unet.add_adapter(lora)
    # Stand in for training: lora_B starts at zero, which would make the adapter a no-op.
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, weight in trained.unet.named_parameters():
            if "lora_B" in name:
                weight.copy_(torch.randn(weight.shape, generator=generator) * 0.2)
    state_dict = convert_state_dict_to_diffusers(get_peft_model_state_dict(trained.unet))
    assert state_dict, "no LoRA layers were attached"
    StableDiffusionPipeline.save_lora_weights(tmp_path / "lora", unet_lora_layers=state_dict)

    pipe = load_pipeline(sd15_model)
    before = render(pipe, output_type="np")
    pipe.load_lora_weights(tmp_path / "lora")
    after = render(pipe, output_type="np")

    assert np.abs(after - before).max() > 0.05
    # The reloaded adapter reproduces the in-memory one.
    np.testing.assert_allclose(after, render(trained, output_type="np"), atol=1e-4)


def test_tokenizer_round_trips_prompts(sd15_model):
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(sd15_model / "tokenizer")
    assert tokenizer.model_max_length == 77

    text = "a photo of sks person"
    ids = tokenizer(text, add_special_tokens=False).input_ids
    assert tokenizer.decode(ids) == text
    assert all(len(tokenizer(word, add_special_tokens=False).input_ids) == 1 for word in PROMPT_WORDS)

    padded = tokenizer(text, padding="max_length", max_length=77, truncation=True).input_ids
    assert len(padded) == 77
    assert padded[0] == tokenizer.bos_token_id


def test_unknown_arch_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="sd3"):
        generate_tiny_base_model(tmp_path / "model", "sd3")
    assert not any(tmp_path.iterdir())


def test_a_crash_leaves_no_half_written_model(tmp_path, monkeypatch):
    from headshots_tools.tinymodel import generate

    def crash(*_args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(generate, "_save_pipeline", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_tiny_base_model(tmp_path / "model")
    assert not any(tmp_path.iterdir())


def test_existing_folder_is_not_overwritten(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        generate_tiny_base_model(tmp_path / "model")
    with pytest.raises(FileExistsError, match="not a diffusers model"):
        ensure_tiny_base_model(tmp_path / "model")
    assert (tmp_path / "model" / "notes.txt").read_text() == "keep me"


def test_ensure_generates_a_missing_model_once_and_keeps_an_existing_one(sd15_model, tmp_path):
    assert ensure_tiny_base_model(sd15_model) == sd15_model

    target = tmp_path / "models" / "tiny"
    assert ensure_tiny_base_model(target) == target
    assert (target / "model_index.json").is_file()
    assert file_hashes(target) == file_hashes(sd15_model)

    # A pre-created empty folder (e.g. a mounted volume) is filled too.
    (tmp_path / "volume").mkdir()
    assert ensure_tiny_base_model(tmp_path / "volume") == tmp_path / "volume"
    assert (tmp_path / "volume" / "model_index.json").is_file()

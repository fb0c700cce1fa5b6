"""Prior preservation, text-encoder LoRA, augmentation and the GPU benchmark, on the tiny model (CPU)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline
from PIL import Image
from safetensors.torch import load_file, save_file

from headshots_common import blob_layout
from headshots_common.blobstore import LocalBlobStore
from trainer import priors
from trainer.photos import augmented_crops
from trainer.training import (
    Checkpoint,
    PriorData,
    TrainingControl,
    TrainingParams,
    TrainingStopped,
    load_pipeline,
    remove_adapters,
    train_lora,
)

BENCH_GPU = Path(__file__).resolve().parents[3] / "bench" / "trainer" / "bench_training_gpu.py"
BENCH_REFERENCE = BENCH_GPU.with_name("dreambooth_reference.py")
CLASS_IMAGES = 3


@pytest.fixture(scope="module")
def pipe(tiny_model):
    return load_pipeline(tiny_model, torch.device("cpu"))


@pytest.fixture(scope="module")
def photos(person_photos):
    return [Image.open(p) for p in person_photos[:2]]


@pytest.fixture(scope="module")
def class_images(pipe, tmp_path_factory):
    """Class images made once in a shared store, as the worker makes them; the generator counted."""
    blobs = LocalBlobStore(tmp_path_factory.mktemp("blobs"))
    prefix = blob_layout.class_images_prefix(priors.model_id("tiny", "0" * 64), "person", 128)
    calls = []
    real = priors.generate_class_images

    def counting(*args, **kwargs):
        calls.append(args[2])
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(priors, "generate_class_images", counting)
        first = priors.ensure_class_images(blobs, pipe, prefix, "a photo of person", CLASS_IMAGES, 128, steps=2)
        keys = blobs.list(prefix)
        stamps = {key: blobs.local_path(key).stat().st_mtime_ns for key in keys}
        second = priors.ensure_class_images(blobs, pipe, prefix, "a photo of person", CLASS_IMAGES, 128, steps=2)
    return {
        "blobs": blobs,
        "prefix": prefix,
        "calls": calls,
        "keys": keys,
        "stamps": stamps,
        "first": first,
        "second": second,
    }


def test_class_images_are_generated_once_under_a_shared_prefix_and_reused(class_images):
    blobs, prefix = class_images["blobs"], class_images["prefix"]
    assert prefix.startswith("priors/") and prefix.endswith("/person/128/")
    assert class_images["keys"] == [f"{prefix}{i:03d}.png" for i in range(CLASS_IMAGES)]
    assert class_images["calls"] == [[0, 1, 2]], "one generation for the first order, none for the second"
    for key, mtime in class_images["stamps"].items():
        assert blobs.local_path(key).stat().st_mtime_ns == mtime, f"{key} was rewritten"
    assert [np.asarray(i).tolist() for i in class_images["first"]] == [
        np.asarray(i).tolist() for i in class_images["second"]
    ]
    assert all(i.size == (128, 128) and i.mode == "RGB" for i in class_images["second"])


def test_prior_preservation_trains_and_resumes_like_a_straight_run(pipe, photos, class_images, tmp_path):
    prior = PriorData(images=class_images["second"], prompt="a photo of person")
    params = TrainingParams(
        steps=4, rank=4, learning_rate=1e-3, batch_size=1, resolution=0, seed=0, prior_loss_weight=0.5
    )

    def train(out, **kwargs):
        try:
            return train_lora(pipe, photos, "a photo of sks person", tmp_path / out, params, prior=prior, **kwargs)
        finally:
            remove_adapters(pipe)

    straight = train("straight")
    assert np.isfinite(straight.final_loss)
    saved: list[Checkpoint] = []
    seen: list[int] = []
    with pytest.raises(TrainingStopped):
        train(
            "stopped",
            control=TrainingControl(
                save_checkpoint=saved.append,
                should_stop=lambda: len(seen) >= 2,
                progress=lambda step, *_: seen.append(step),
            ),
        )
    resumed_steps: list[int] = []
    resumed = train(
        "resumed",
        resume=Checkpoint.from_bytes(saved[0].to_bytes()),
        control=TrainingControl(progress=lambda step, *_: resumed_steps.append(step)),
    )
    assert resumed_steps == [3, 4]
    expected, got = load_file(straight.adapter_path), load_file(resumed.adapter_path)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=1e-4, atol=1e-5)
    assert resumed.final_loss == pytest.approx(straight.final_loss, rel=1e-4)


def render(pipe, seed=3):
    pipe.set_progress_bar_config(disable=True)
    image = pipe(
        "professional headshot photo of sks person",
        num_inference_steps=3,
        guidance_scale=1.0,
        generator=torch.Generator().manual_seed(seed),
    ).images[0]
    return np.asarray(image, dtype=np.float32)


def test_text_encoder_lora_is_saved_with_the_unet_lora_and_loads_in_diffusers(pipe, photos, tiny_model, tmp_path):
    params = TrainingParams(
        steps=6, rank=4, learning_rate=5e-2, batch_size=1, resolution=0, seed=0, train_text_encoder=True
    )
    saved: list[Checkpoint] = []

    def embeddings():
        with torch.no_grad():
            return pipe.encode_prompt("a photo of sks person", "cpu", 1, False)[0]

    plain = embeddings()
    try:
        result = train_lora(
            pipe,
            photos[:1],
            "a photo of sks person",
            tmp_path / "te",
            params,
            control=TrainingControl(save_checkpoint=saved.append, checkpoint_every=3),
        )
        assert not torch.equal(embeddings(), plain), "the trained text encoder's LoRA is on until removed"
    finally:
        remove_adapters(pipe)
    assert torch.equal(embeddings(), plain), "the text encoder is left as the base model's"
    assert set(saved[0].text_lora) == {"text_encoder"} and saved[0].text_lora["text_encoder"]
    weights = load_file(result.adapter_path)
    text_keys = [k for k in weights if k.startswith("text_encoder.")]
    assert text_keys and all(k.startswith(("unet.", "text_encoder.")) for k in weights)
    assert {k.split(".")[-4] for k in text_keys} >= {"q_proj", "k_proj", "v_proj", "out_proj"}
    assert any(v.abs().sum() > 0 for k, v in weights.items() if k.startswith("text_encoder.") and ".up." in k)

    fresh = DiffusionPipeline.from_pretrained(tiny_model)
    unet_only = tmp_path / "unet-only"
    unet_only.mkdir()
    save_file({k: v for k, v in weights.items() if k.startswith("unet.")}, unet_only / result.adapter_path.name)
    fresh.load_lora_weights(str(unet_only), weight_name=result.adapter_path.name, adapter_name="unet_only")
    without_text = render(fresh)
    fresh.delete_adapters("unet_only")
    fresh.load_lora_weights(str(result.adapter_path.parent), weight_name=result.adapter_path.name, adapter_name="full")
    assert "full" in fresh.text_encoder.peft_config, "diffusers put the text-encoder LoRA on the text encoder"
    with_text = render(fresh)
    assert np.abs(with_text - without_text).mean() > 0.05, "the text-encoder LoRA changes the rendered image"


def test_augmented_crops_are_deterministic_per_seed(person_photos):
    photo = [Image.open(person_photos[0])]
    first = augmented_crops(photo, 64, 2, seed=0)
    assert len(first) == 3 and all(c.size == (64, 64) for c in first)
    again = augmented_crops(photo, 64, 2, seed=0)
    other = augmented_crops(photo, 64, 2, seed=1)
    assert [np.asarray(c).tolist() for c in first] == [np.asarray(c).tolist() for c in again]
    assert np.asarray(first[0]).tolist() == np.asarray(other[0]).tolist(), "the photo itself is not augmented"
    assert np.asarray(first[1]).tolist() != np.asarray(other[1]).tolist()


def _bench_module(path: Path = BENCH_GPU):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_baseline_trains_the_layers_the_trainer_trains_and_nothing_else(
    pipe, photos, tiny_model, tmp_path
):
    """The CPU benchmark's reference (diffusers' DreamBooth LoRA example re-implemented) is only a fair baseline
    when it trains the same LoRA layers at the same rank: its adapter file has our adapter file's keys and shapes."""
    reference = _bench_module(BENCH_REFERENCE)
    crops = tmp_path / "crops"
    crops.mkdir()
    for i, photo in enumerate(photos):
        photo.convert("RGB").resize((128, 128)).save(crops / f"{i}.png")
    run = reference.ReferenceRun(
        tiny_model, crops, "a photo of sks person", rank=4, learning_rate=1e-3, batch_size=2, resolution=128, seed=0
    )
    losses = []
    run.train(3, on_step=lambda step, loss: losses.append(loss))
    assert len(losses) == 3 and all(np.isfinite(losses))
    theirs = load_file(run.save(tmp_path / "reference"))
    params = TrainingParams(steps=1, rank=4, learning_rate=1e-3, batch_size=1, resolution=0, seed=0)
    try:
        ours = load_file(train_lora(pipe, photos, "a photo of sks person", tmp_path / "ours", params).adapter_path)
    finally:
        remove_adapters(pipe)
    assert {k: v.shape for k, v in theirs.items()} == {k: v.shape for k, v in ours.items()}
    assert any(v.abs().sum() > 0 for k, v in theirs.items() if "lora_B" in k or "lora.up" in k), "it trained"


def test_gpu_benchmark_parses_arguments_and_runs_its_code_path_on_the_cpu(tiny_model, tmp_path, capsys):
    bench = _bench_module()
    with pytest.raises(SystemExit) as shown:
        bench.main(["--help"])
    assert shown.value.code == 0 and "--base-model" in capsys.readouterr().out
    defaults = bench.parse_args(["--out", "x"])
    assert (defaults.base_model, defaults.resolution, defaults.steps) == (bench.DEFAULT_BASE_MODEL, 1024, 500)
    assert "xl" in defaults.base_model and not defaults.no_compile
    assert bench.parse_args(["--out", "x", "--quick"]).steps == 50, "make bench --quick passes --quick"
    if not torch.cuda.is_available():
        assert bench.main(["--out", str(tmp_path / "no.json"), "--base-model", tiny_model]) == 2
        assert "CUDA is not available" in capsys.readouterr().err

    out = tmp_path / "bench.json"
    assert bench.main(["--dry-run", "--base-model", tiny_model, "--out", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["trainer.gpu_s_per_step"]["value"] > 0
    assert figures["trainer.gpu_job_s"]["value"] > 0
    assert figures["trainer.minutes_per_order"]["value"] > figures["trainer.gpu_job_s"]["value"] / 60
    assert "DRY RUN" in figures["trainer.minutes_per_order"]["note"]
    config = figures["_config"]
    assert (config["gpu"], config["steps"], config["dry_run"], config["compile"]) == ("cpu", 3, True, False)

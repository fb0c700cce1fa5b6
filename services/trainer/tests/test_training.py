"""LoRA training on the tiny base model: a real diffusers + peft run on the CPU."""

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline
from PIL import Image
from safetensors.torch import load_file

from trainer.photos import face_crops
from trainer.training import TrainingParams, load_pipeline, remove_adapters, train_lora


@pytest.fixture(scope="module")
def trained(tiny_model, person_photos, tmp_path_factory):
    pipe = load_pipeline(tiny_model, torch.device("cpu"))
    progress = []
    params = TrainingParams(steps=12, rank=4, learning_rate=1e-3, batch_size=2, resolution=0, seed=0)
    result = train_lora(
        pipe,
        [Image.open(p) for p in person_photos],
        "a photo of sks person",
        tmp_path_factory.mktemp("adapter"),
        params,
        progress=lambda *a: progress.append(a),
    )
    return result, progress


def render(pipe, seed=7):
    image = pipe(
        "professional headshot photo of sks person",
        num_inference_steps=4,
        guidance_scale=1.0,
        generator=torch.Generator().manual_seed(seed),
    ).images[0]
    return np.asarray(image, dtype=np.float32)


def test_training_reports_progress_with_eta_and_a_finite_loss(trained):
    result, progress = trained
    assert [p[0] for p in progress] == list(range(1, 13))
    assert all(total == 12 for _, total, _, _ in progress)
    assert progress[-1][3] == pytest.approx(0.0, abs=1e-6)  # nothing left at the last step
    assert np.isfinite(result.final_loss)
    assert result.resolution == 128


def test_adapter_is_a_diffusers_lora_that_changes_the_rendered_image(trained, tiny_model):
    result, _ = trained
    weights = load_file(result.adapter_path)
    assert weights and all(key.startswith("unet.") for key in weights)
    assert any("lora" in key for key in weights)

    pipe = DiffusionPipeline.from_pretrained(tiny_model)
    pipe.set_progress_bar_config(disable=True)
    before = render(pipe)
    pipe.load_lora_weights(str(result.adapter_path.parent), weight_name=result.adapter_path.name)
    after = render(pipe)
    # Rendering is deterministic (same seed, same pixels), so any change comes from the adapter.
    assert np.array_equal(render(pipe.__class__.from_pretrained(tiny_model)), before)
    assert np.abs(after - before).mean() > 0.1, "the trained adapter must change the output"


def test_face_crops_are_square_and_centred_on_the_face(person_photos):
    from headshots_common.faces import face_analyzer

    crops = face_crops([Image.open(p) for p in person_photos], 256)
    assert all(c.size == (256, 256) for c in crops)
    found = [face_analyzer().detect(c) for c in crops]
    assert all(len(f) == 1 for f in found), "each crop keeps exactly the person's face"
    for [face] in found:
        assert abs((face.left + face.right) / 2 - 128) < 40


def test_resuming_from_a_checkpoint_continues_the_same_run(tiny_model, person_photos, tmp_path):
    """Stopped at step 3 and resumed: the same adapter as six steps straight through (weights, optimizer, RNG)."""
    from trainer.training import Checkpoint, TrainingControl, TrainingStopped

    pipe = load_pipeline(tiny_model, torch.device("cpu"))
    photos = [Image.open(p) for p in person_photos[:2]]
    params = TrainingParams(steps=6, rank=4, learning_rate=1e-3, batch_size=1, resolution=0, seed=0)

    def train(out, **kwargs):
        try:
            return train_lora(pipe, photos, "a photo of sks person", tmp_path / out, params, **kwargs)
        finally:
            remove_adapters(pipe)

    straight = load_file(train("straight").adapter_path)
    saved: list[Checkpoint] = []
    steps_seen: list[int] = []
    stop_after_3 = TrainingControl(
        save_checkpoint=saved.append,
        should_stop=lambda: len(steps_seen) >= 3,
        progress=lambda step, *_: steps_seen.append(step),
    )
    with pytest.raises(TrainingStopped):
        train("stopped", control=stop_after_3)
    [checkpoint] = saved
    assert checkpoint.step == 3
    resumed_steps: list[int] = []
    resumed = train(
        "resumed",
        control=TrainingControl(progress=lambda step, *_: resumed_steps.append(step)),
        resume=Checkpoint.from_bytes(checkpoint.to_bytes()),
    )
    assert resumed_steps == [4, 5, 6]
    resumed_weights = load_file(resumed.adapter_path)
    assert resumed_weights.keys() == straight.keys()
    for key, value in straight.items():
        torch.testing.assert_close(resumed_weights[key], value, rtol=1e-4, atol=1e-5)

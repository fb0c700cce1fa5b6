"""The warm worker's loop trains the same adapter as the peft loop it replaced (tests/peft_reference_loop.py).

Same seed, same crops, same starting adapter: the loss of every step agrees, and the two adapters render the same
image (and one unlike the base model's), at batch 1 and at batch 2 with prior preservation and augmentation.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline
from peft_reference_loop import train_peft_reference
from PIL import Image

from trainer.lora import LoraLayers
from trainer.photos import augmented_crops, locate_faces
from trainer.training import (
    LORA_INIT_SEED_OFFSET,
    PriorData,
    TrainingControl,
    TrainingEngine,
    TrainingParams,
    load_pipeline,
)

CASES = {
    "batch 1": dict(steps=12, batch_size=1, augment_variants=0, prior=False),
    "batch 2, prior preservation, augmentation": dict(steps=8, batch_size=2, augment_variants=1, prior=True),
}


@pytest.fixture(scope="module")
def photos(person_photos):
    return locate_faces([Image.open(p) for p in person_photos[:3]])


def render(tiny_model, adapter=None, seed=5) -> np.ndarray:
    pipe = DiffusionPipeline.from_pretrained(tiny_model)
    pipe.set_progress_bar_config(disable=True)
    if adapter is not None:
        pipe.load_lora_weights(str(adapter.parent), weight_name=adapter.name)
    image = pipe(
        "professional headshot photo of sks person",
        num_inference_steps=4,
        guidance_scale=1.0,
        generator=torch.Generator().manual_seed(seed),
    ).images[0]
    return np.asarray(image, dtype=np.float32)


@pytest.mark.parametrize("case", CASES)
def test_the_new_loop_trains_what_the_peft_loop_trained(case, tiny_model, photos, tmp_path):
    option = CASES[case]
    params = TrainingParams(
        steps=option["steps"],
        rank=4,
        learning_rate=1e-2,  # large enough that the adapter visibly changes the render in a few steps
        batch_size=option["batch_size"],
        resolution=0,
        seed=3,
        augment_variants=option["augment_variants"],
        prior_loss_weight=0.5,
    )
    prior = None
    if option["prior"]:
        prior = PriorData([Image.new("RGB", (128, 128), (30 * i, 100, 170)) for i in range(3)], "a photo of person")

    engine = TrainingEngine(load_pipeline(tiny_model, torch.device("cpu")))
    losses: list[float] = []
    new = engine.train(
        photos,
        "a photo of sks person",
        tmp_path / "new",
        params,
        control=TrainingControl(progress=lambda step, total, loss, eta: losses.append(loss), loss_every=1),
        prior=prior,
    )

    # The peft loop starts from the adapter the new loop starts from: the same draws for A (B is zero in both).
    reference_pipe = load_pipeline(tiny_model, torch.device("cpu"))
    probe = LoraLayers(load_pipeline(tiny_model, torch.device("cpu")).unet, engine.unet_lora.layers, params.rank)
    probe.reset(torch.Generator().manual_seed(params.seed + LORA_INIT_SEED_OFFSET))
    start = [layer.lora_A.detach().clone() for layer in probe.layers.values()]
    crops = augmented_crops(photos, 128, params.augment_variants, params.seed)
    old, old_losses = train_peft_reference(
        reference_pipe, crops, "a photo of sks person", tmp_path / "old", params, start, prior
    )

    assert len(losses) == len(old_losses) == params.steps
    np.testing.assert_allclose(losses, old_losses, rtol=1e-4, atol=1e-5)  # measured: 1.2e-7 apart
    assert new.final_loss == pytest.approx(old_losses[-1], rel=1e-4)

    base, with_new, with_old = render(tiny_model), render(tiny_model, new.adapter_path), render(tiny_model, old)
    assert np.abs(with_new - base).mean() > 1.0, "the adapter changes the render"  # measured: 2.0-2.9 levels
    difference = np.abs(with_new - with_old)  # measured: at most 1 level of 255, rounding
    assert difference.mean() < 0.1 and difference.max() <= 2, (difference.mean(), difference.max())

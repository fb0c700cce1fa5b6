"""Renderer test fixtures."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from lora_helpers import make_adapter, sd_pipe
from PIL import Image, ImageFilter


@pytest.fixture(scope="session")
def lora_files(tiny_model, tmp_path_factory) -> dict[str, Path]:
    """Four adapters of ranks 2, 4, 8, 2 for the tiny model, by name."""
    unet = sd_pipe(tiny_model).unet
    root = tmp_path_factory.mktemp("adapters")
    ranks = {"a1": 2, "a2": 4, "a3": 8, "a4": 2}
    return {name: make_adapter(unet, rank, seed, root / name) for seed, (name, rank) in enumerate(ranks.items())}


def _portrait(path: Path) -> Image.Image:
    image = Image.open(path).convert("RGB")
    image.thumbnail((512, 512))  # the size photo_quality measures at
    return image


def _degraded_copies(original: Image.Image) -> dict[str, Image.Image]:
    """The photo blurred, with sensor-like noise, underexposed and JPEG-crushed: worse photos of the same scene."""
    crushed = io.BytesIO()
    original.save(crushed, "JPEG", quality=5)
    noise = np.random.default_rng(0).normal(0, 25, (original.height, original.width, 3))
    noisy = np.clip(np.asarray(original, np.float32) + noise, 0, 255)
    return {
        "blurred": original.filter(ImageFilter.GaussianBlur(3)),
        "noisy": Image.fromarray(noisy.astype(np.uint8)),
        "dark": Image.fromarray((np.asarray(original) * 0.25).astype(np.uint8)),
        "crushed": Image.open(crushed),
    }


@pytest.fixture(scope="session")
def portrait() -> Callable[[Path], Image.Image]:
    """Loads a photo at the size the quality score measures."""
    return _portrait


@pytest.fixture(scope="session")
def degraded_copies() -> Callable[[Image.Image], dict[str, Image.Image]]:
    """name -> a degraded copy of the given photo (blurred, noisy, dark, crushed)."""
    return _degraded_copies

"""Renderer test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from lora_helpers import make_adapter, sd_pipe


@pytest.fixture(scope="session")
def lora_files(tiny_model, tmp_path_factory) -> dict[str, Path]:
    """Four adapters of ranks 2, 4, 8, 2 for the tiny model, by name."""
    unet = sd_pipe(tiny_model).unet
    root = tmp_path_factory.mktemp("adapters")
    ranks = {"a1": 2, "a2": 4, "a3": 8, "a4": 2}
    return {name: make_adapter(unet, rank, seed, root / name) for seed, (name, rank) in enumerate(ranks.items())}

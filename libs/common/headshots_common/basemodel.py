"""The configured base model: where it is, whether it is there, and its native image size.

`HEADSHOTS_BASE_MODEL` is a local diffusers folder or a model hub id. A local folder that
does not hold a model stops the service at start-up with `BaseModelMissing`: a service never
generates a stand-in. The tiny offline model is generated explicitly (`make model`,
`headshots_tools.tinymodel`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

MODEL_INDEX = "model_index.json"
# Written beside model_index.json by the tiny model generator: random weights that draw no faces.
TEST_MODEL_MARKER = "headshots_test_model.json"


class BaseModelMissing(RuntimeError):
    """The configured base model is a local path without a diffusers model in it."""


def resolve_base_model(value: str) -> str:
    """`value` itself when it names a model folder or a hub id; BaseModelMissing for any other local path."""
    path = Path(value).expanduser()
    if (path / MODEL_INDEX).is_file():
        return value
    if not looks_like_local_path(value):
        return value  # "org/name" on a model hub: diffusers resolves it (and says so if it cannot)
    problem = "does not exist" if not path.exists() else f"holds no {MODEL_INDEX}"
    raise BaseModelMissing(
        f"HEADSHOTS_BASE_MODEL={value!r}: {path} {problem}. Point it at a diffusers model folder or a hub id, "
        f"or generate the tiny offline model there with `make model` "
        f"(python -m headshots_tools.tinymodel --arch sd15 --out {path})"
    )


def looks_like_local_path(value: str) -> bool:
    """Tell a filesystem path from a hub id ("name" or "org/name").

    Existing paths, absolute paths and "./", "../", "~" forms are paths. So are values
    with more than one "/" or an OS separator that is not "/", which hub ids never have,
    and "dir/name" whose "dir" exists locally.
    """
    if os.path.lexists(value) or os.path.isabs(value) or value.startswith((".", "~")):
        return True
    if os.sep != "/" and os.sep in value:
        return True
    parts = value.split("/")
    return len(parts) > 2 or (len(parts) == 2 and Path(parts[0]).is_dir())


def native_resolution(pipeline_or_path: Any) -> int:
    """Native image size in pixels: the UNet's latent sample_size x the VAE's scale factor."""
    if isinstance(pipeline_or_path, (str, os.PathLike)):
        unet_config, vae_config = _load_configs(pipeline_or_path)
    else:
        unet_config = dict(pipeline_or_path.unet.config)
        vae_config = dict(pipeline_or_path.vae.config)
    sample_size = unet_config["sample_size"]
    if isinstance(sample_size, (list, tuple)):
        sample_size = sample_size[0]
    return int(sample_size) * 2 ** (len(vae_config["block_out_channels"]) - 1)


def _load_configs(path_or_id: str | os.PathLike) -> tuple[dict, dict]:
    folder = Path(path_or_id).expanduser()
    if folder.is_dir():
        unet, vae = (json.loads((folder / sub / "config.json").read_text(encoding="utf-8")) for sub in ("unet", "vae"))
        return unet, vae
    # A hub id: diffusers reads the configs from the local hub cache (or the hub).
    from diffusers import AutoencoderKL, UNet2DConditionModel

    return (
        dict(UNet2DConditionModel.load_config(str(path_or_id), subfolder="unet")),
        dict(AutoencoderKL.load_config(str(path_or_id), subfolder="vae")),
    )


@functools.cache
def base_model_hash(base_model: str) -> str:
    """sha256 over a local model folder's files (paths and contents), computed once per process; "" for a hub id."""
    root = Path(base_model)
    if not root.is_dir():
        return ""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def is_generated_test_model(base_model: str) -> bool:
    """Whether `base_model` is the generated offline test model (its images hold no faces to check)."""
    return (Path(base_model).expanduser() / TEST_MODEL_MARKER).is_file()

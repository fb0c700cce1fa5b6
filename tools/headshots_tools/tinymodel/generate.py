"""Tiny, deterministic, randomly initialised diffusion base models, generated offline.

The studio trains per-person LoRA adapters on a shared diffusion base model and renders
with diffusers. Real base models are gigabytes and need a model hub; this module writes a
few-megabyte stand-in in the standard diffusers folder layout (SD1.5 or SDXL architecture)
so LoRA training and rendering run their real code paths on a CPU laptop and in CI.

Generation is always explicit (`make model`, the local stack, test fixtures): the services
never generate a model; a configured base model that is missing stops them at start-up.

CLI:  python -m headshots_tools.tinymodel --arch sd15|sdxl --out DIR [--force]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from headshots_common.basemodel import MODEL_INDEX, TEST_MODEL_MARKER
from headshots_tools.tinymodel.tokenizer import BOS_TOKEN, EOS_TOKEN, MAX_PROMPT_TOKENS, PAD_TOKENS, write_tokenizer

ARCHITECTURES = ("sd15", "sdxl")


# ---------------------------------------------------------------------------------------
# Sizes: small enough to build and render in seconds on a CPU, big enough that a LoRA on
# the attention projections visibly changes the output.
# ---------------------------------------------------------------------------------------

LATENT_SIZE = 16  # x 8 (VAE scale factor) = 128 px images

UNET_COMMON: dict[str, Any] = dict(
    sample_size=LATENT_SIZE,
    in_channels=4,
    out_channels=4,
    block_out_channels=(32, 64),
    layers_per_block=2,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    norm_num_groups=32,
)
UNET_SD15: dict[str, Any] = dict(UNET_COMMON, cross_attention_dim=32, attention_head_dim=8)
# SDXL cross-attends to both text encoders concatenated (32 + 32 = 64) and adds a
# "text_time" embedding: 6 size/crop numbers x 8 dims plus the 32-dim pooled projection.
UNET_SDXL: dict[str, Any] = dict(
    UNET_COMMON,
    cross_attention_dim=64,
    attention_head_dim=(4, 8),
    transformer_layers_per_block=(1, 2),
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=8,
    projection_class_embeddings_input_dim=6 * 8 + 32,
)

# Four levels give the 8x downscale of the real SD VAE.
VAE_COMMON: dict[str, Any] = dict(
    sample_size=LATENT_SIZE * 8,
    in_channels=3,
    out_channels=3,
    latent_channels=4,
    block_out_channels=(16, 32, 64, 64),
    layers_per_block=1,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    norm_num_groups=8,
)
VAE_SD15: dict[str, Any] = dict(VAE_COMMON, scaling_factor=0.18215)
VAE_SDXL: dict[str, Any] = dict(VAE_COMMON, scaling_factor=0.13025)

TEXT_ENCODER_COMMON: dict[str, Any] = dict(
    hidden_size=32,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    max_position_embeddings=MAX_PROMPT_TOKENS,
    projection_dim=32,
)
# OpenAI CLIP-L (SD1.5, SDXL's first encoder) uses quick_gelu; OpenCLIP bigG uses gelu.
TEXT_ENCODER_CLIP_L: dict[str, Any] = dict(TEXT_ENCODER_COMMON, hidden_act="quick_gelu")
TEXT_ENCODER_BIGG: dict[str, Any] = dict(TEXT_ENCODER_COMMON, hidden_act="gelu")

# Stable Diffusion's training noise schedule. Euler is SDXL's default sampler and works
# at very few steps; trainers load DDPMScheduler from the same config.
SCHEDULER: dict[str, Any] = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    prediction_type="epsilon",
    timestep_spacing="leading",
    steps_offset=1,
)

# One fixed seed per component, so a module's weights do not depend on build order.
SEEDS = {"unet": 1, "vae": 2, "text_encoder": 3, "text_encoder_2": 4}

Progress = Callable[[str], None]

# ---------------------------------------------------------------------------------------
# Model construction
# ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed weight initialisation without disturbing the caller's global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _build_unet(config: dict[str, Any]):
    from diffusers import UNet2DConditionModel

    with _seeded(SEEDS["unet"]):
        return UNet2DConditionModel(**config)


def _build_vae(config: dict[str, Any]):
    from diffusers import AutoencoderKL

    with _seeded(SEEDS["vae"]):
        return AutoencoderKL(**config)


def _build_text_encoder(name: str, config: dict[str, Any], vocab: dict[str, int], pad: str):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    text_config = CLIPTextConfig(
        **config,
        vocab_size=len(vocab),
        bos_token_id=vocab[BOS_TOKEN],
        # CLIP pools the hidden state at the first end-of-text token.
        eos_token_id=vocab[EOS_TOKEN],
        pad_token_id=vocab[pad],
    )
    # SDXL's second encoder also provides the pooled, projected prompt embedding.
    model_class = CLIPTextModelWithProjection if name == "text_encoder_2" else CLIPTextModel
    with _seeded(SEEDS[name]):
        return model_class(text_config)


def _build_scheduler():
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(**SCHEDULER)


def _text_stack(staging: Path, encoders: dict[str, dict[str, Any]], say: Progress) -> dict:
    """A tokenizer and a text encoder for each entry of `encoders` (name -> config)."""
    from transformers import CLIPTokenizer

    components = {}
    for encoder_name, encoder_config in encoders.items():
        tokenizer_name = encoder_name.replace("text_encoder", "tokenizer")
        pad = PAD_TOKENS[tokenizer_name]
        say(f"writing {tokenizer_name}")
        vocab = write_tokenizer(staging / tokenizer_name, pad_token=pad)
        # Loading it back proves the hand-written files are valid for transformers.
        components[tokenizer_name] = CLIPTokenizer.from_pretrained(staging / tokenizer_name)
        say(f"building {encoder_name}")
        components[encoder_name] = _build_text_encoder(encoder_name, encoder_config, vocab, pad)
    return components


def _build_pipeline(arch: str, staging: Path, say: Progress):
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    if arch == "sd15":
        text = _text_stack(staging, {"text_encoder": TEXT_ENCODER_CLIP_L}, say)
        unet_config, vae_config = UNET_SD15, VAE_SD15
    else:
        encoders = {"text_encoder": TEXT_ENCODER_CLIP_L, "text_encoder_2": TEXT_ENCODER_BIGG}
        text = _text_stack(staging, encoders, say)
        unet_config, vae_config = UNET_SDXL, VAE_SDXL
    say("building unet")
    unet = _build_unet(unet_config)
    say("building vae")
    vae = _build_vae(vae_config)
    scheduler = _build_scheduler()
    if arch == "sd15":
        return StableDiffusionPipeline(
            vae=vae,
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
            **text,
        )
    return StableDiffusionXLPipeline(vae=vae, unet=unet, scheduler=scheduler, add_watermarker=False, **text)


def _save_pipeline(pipeline, staging: Path, say: Progress) -> None:
    """Save every component except the tokenizers, which are already written."""
    for name, component in pipeline.components.items():
        if component is None or name.startswith("tokenizer"):
            continue
        say(f"saving {name}")
        component.save_pretrained(staging / name)
    pipeline.save_config(staging)  # model_index.json
    _mark_test_model(staging)


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def generate_tiny_base_model(
    out_dir: str | os.PathLike,
    arch: str = "sd15",
    *,
    progress: Progress | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a tiny random `arch` model in diffusers format to `out_dir`; return its path.

    Everything is written to a temporary sibling folder and renamed into place at the
    end, so a crash never leaves a half-written model. `out_dir` may be missing or an
    empty folder; an existing model there is replaced only with `overwrite=True`.
    """
    _check_arch(arch)
    say = progress or (lambda _message: None)
    target = Path(out_dir).expanduser().absolute()
    if _has_content(target) and not overwrite:
        raise FileExistsError(f"{target} is not empty; pass overwrite=True (CLI: --force) to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        os.chmod(staging, 0o755)  # mkdtemp makes it private; the model is shared.
        say(f"generating tiny {arch} base model in {target}")
        _save_pipeline(_build_pipeline(arch, staging, say), staging, say)
        _move_into_place(staging, target, overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"done: {target}")
    return target


def ensure_tiny_base_model(out_dir: str | os.PathLike, arch: str = "sd15", *, progress: Progress | None = None) -> Path:
    """The tiny model at `out_dir`, generated there first if the folder is missing or empty.

    A folder that holds something other than a diffusers model is refused, never overwritten.
    """
    target = Path(out_dir).expanduser().absolute()
    if (target / MODEL_INDEX).is_file():
        if not (target / TEST_MODEL_MARKER).is_file():  # generated before the marker existed
            _mark_test_model(target)
        return target
    if _has_content(target):
        raise FileExistsError(f"{target} exists but is not a diffusers model folder (no {MODEL_INDEX})")
    return generate_tiny_base_model(target, arch, progress=progress)


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def _mark_test_model(folder: Path) -> None:
    """The random test model says so: the renderer's quality gate is off for it (it draws no faces)."""
    (folder / TEST_MODEL_MARKER).write_text(
        json.dumps({"generated_by": "headshots_tools.tinymodel", "draws_faces": False}) + "\n"
    )


def _check_arch(arch: str) -> None:
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown base model architecture {arch!r}; expected one of {ARCHITECTURES}")


def _has_content(path: Path) -> bool:
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


def _move_into_place(staging: Path, target: Path, overwrite: bool) -> None:
    """Rename the finished model onto `target`, which must be missing or empty.

    With `overwrite`, the old folder is renamed aside first and deleted afterwards, so
    the target is never a mix of the two. If another process finished the same target
    first, its model is kept: the output is deterministic, so both are identical.
    """
    if overwrite and _has_content(target):
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / target.name)
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.replace(staging, target)
    except OSError:
        if not (target / MODEL_INDEX).is_file():
            raise


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate a tiny random diffusion base model.")
    parser.add_argument("--arch", choices=ARCHITECTURES, default="sd15")
    parser.add_argument("--out", required=True, help="model folder to create")
    parser.add_argument("--force", action="store_true", help="replace an existing folder")
    args = parser.parse_args(argv)
    try:
        path = generate_tiny_base_model(
            args.out, args.arch, progress=lambda message: print(message, flush=True), overwrite=args.force
        )
    except FileExistsError as error:
        parser.error(str(error))
    print(path)

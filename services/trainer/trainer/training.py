"""DreamBooth-style LoRA fine-tuning of a diffusion UNet on one person's photos (diffusers + peft).

Optional, per TrainingParams / arguments of train_lora:
  prior preservation   class images of the subject class (trainer.priors) are trained beside the photos on
                       the class prompt; the loss is instance loss + prior_loss_weight x class loss
  text-encoder LoRA    LoRA on the text encoder(s) too; prompt embeddings are then computed every step
  augmentation         a few random zoomed crops of each face crop (deterministic per seed), besides mirrors
"""

from __future__ import annotations

import io
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from headshots_common.adapter_format import (
    ADAPTER_FILE_NAME,
    TEXT_ENCODER_TARGET_MODULES,
    TEXT_ENCODERS,
    UNET_TARGET_MODULES,
)
from headshots_common.basemodel import native_resolution
from headshots_common.faces import crop_around_face, face_analyzer, likeness

log = logging.getLogger(__name__)

# Augmentation: variants are random square windows of at least this share of the face crop's side, taken from
# a crop this much larger than the training resolution (so a zoomed variant is downsampled, never upscaled).
AUGMENT_MIN_SCALE = 0.85
AUGMENT_OVERSAMPLE = 1.25
VAE_ENCODE_CHUNK = 8  # images per VAE forward pass while caching latents (bounds memory at 1024 px)


@dataclass(frozen=True)
class TrainingParams:
    steps: int
    rank: int
    learning_rate: float
    batch_size: int
    resolution: int  # 0: the base model's native size
    seed: int
    prior_loss_weight: float = 1.0  # used when train_lora is given class images
    train_text_encoder: bool = False
    augment_variants: int = 0  # extra random crops per photo (each also mirrored)


@dataclass(frozen=True)
class PriorData:
    """Prior preservation: images of the subject class made by the base model, and the prompt that made them."""

    images: list[Image.Image]
    prompt: str


@dataclass(frozen=True)
class TrainingResult:
    adapter_path: Path
    steps: int
    seconds: float
    final_loss: float
    resolution: int


ProgressCallback = Callable[[int, int, float, float], None]  # step, total, loss, eta seconds


class BadPhotos(ValueError):
    """The photos cannot train an adapter (no face in any of them)."""


class TrainingStopped(Exception):
    """Training stopped early on request, after saving a checkpoint at `step`."""

    def __init__(self, step: int):
        super().__init__(f"training stopped at step {step}")
        self.step = step


@dataclass
class Checkpoint:
    """Everything needed to continue a run exactly where it stopped."""

    step: int
    loss: float
    lora: dict[str, torch.Tensor]
    optimizer: dict
    rng: torch.Tensor  # the state of the generator that draws photos, noise and timesteps
    text_lora: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # per text encoder, when trained

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(vars(self), buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Checkpoint:
        return cls(**torch.load(io.BytesIO(data), map_location="cpu", weights_only=True))


@dataclass
class TrainingControl:
    """What the caller hooks in between steps."""

    progress: ProgressCallback | None = None
    checkpoint_every: int = 0
    save_checkpoint: Callable[[Checkpoint], None] | None = None
    should_stop: Callable[[], bool] | None = None  # checked every step: cancel or shutdown


def pick_device(setting: str) -> torch.device:
    if setting != "auto":
        return torch.device(setting)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_pipeline(base_model: str, device: torch.device):
    from diffusers import DiffusionPipeline

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    pipe = DiffusionPipeline.from_pretrained(base_model, dtype=dtype)
    return pipe.to(device)


def is_sdxl(pipe) -> bool:
    return getattr(pipe, "text_encoder_2", None) is not None


def face_crops(photos: list[Image.Image], size: int) -> list[Image.Image]:
    """Square crops centred on the face (the largest one), so the adapter learns the face, not the room."""
    analyzer = face_analyzer()
    crops, faces_found = [], 0
    for photo in photos:
        photo = photo.convert("RGB")
        faces = analyzer.detect(photo)
        if faces:
            faces_found += 1
            crops.append(crop_around_face(photo, max(faces, key=lambda f: f.width * f.height), size))
        else:  # the gateway checked for a face; keep a centre crop rather than drop the photo
            side = min(photo.size)
            left, top = (photo.width - side) // 2, (photo.height - side) // 2
            crops.append(
                photo.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
            )
    if not faces_found:
        raise BadPhotos(f"no face found in any of the {len(photos)} photos")
    return crops


def augmented_crops(photos: list[Image.Image], size: int, variants: int, seed: int) -> list[Image.Image]:
    """The face crops, each followed by `variants` random zoomed-in windows of it; the same seed, the same crops."""
    if variants <= 0:
        return face_crops(photos, size)
    rng = random.Random(seed)
    out = []
    for crop in face_crops(photos, round(size * AUGMENT_OVERSAMPLE)):  # same framing, more pixels
        out.append(crop.resize((size, size), Image.Resampling.LANCZOS))
        for _ in range(variants):
            side = crop.width * rng.uniform(AUGMENT_MIN_SCALE, 1.0)
            left, top = rng.uniform(0, crop.width - side), rng.uniform(0, crop.height - side)
            out.append(crop.resize((size, size), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side)))
    return out


def _to_tensor(images: list[Image.Image], device, dtype) -> torch.Tensor:
    arrays = np.stack([np.asarray(im, dtype=np.float32) / 127.5 - 1.0 for im in images])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).to(device=device, dtype=dtype)


@torch.no_grad()
def _cache_latents(pipe, images: list[Image.Image]) -> torch.Tensor:
    """Encode each photo and its mirror image once; training never runs the VAE again."""
    mirrored = images + [im.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for im in images]
    chunks = []
    for start in range(0, len(mirrored), VAE_ENCODE_CHUNK):
        pixels = _to_tensor(mirrored[start : start + VAE_ENCODE_CHUNK], pipe.device, pipe.vae.dtype)
        chunks.append(pipe.vae.encode(pixels).latent_dist.mean.float())
    return torch.cat(chunks) * pipe.vae.config.scaling_factor


def _conditioning(pipe, prompt: str, resolution: int) -> dict:
    """Text embeddings (and SDXL's pooled embeddings and size ids) for a prompt; differentiable."""
    if is_sdxl(pipe):
        embeds, _, pooled, _ = pipe.encode_prompt(
            prompt, device=pipe.device, num_images_per_prompt=1, do_classifier_free_guidance=False
        )
        time_ids = torch.tensor([[resolution, resolution, 0, 0, resolution, resolution]], device=pipe.device)
        return {
            "encoder_hidden_states": embeds.float(),
            "added_cond_kwargs": {"text_embeds": pooled.float(), "time_ids": time_ids.float()},
        }
    embeds, _ = pipe.encode_prompt(
        prompt, device=pipe.device, num_images_per_prompt=1, do_classifier_free_guidance=False
    )
    return {"encoder_hidden_states": embeds.float()}


@torch.no_grad()
def _cache_conditioning(pipe, prompt: str, resolution: int) -> dict:
    """The prompt's conditioning computed once (the text encoders are frozen)."""
    return _conditioning(pipe, prompt, resolution)


def _repeat(conditioning: dict, n: int) -> dict:
    out: dict[str, Any] = {"encoder_hidden_states": conditioning["encoder_hidden_states"].expand(n, -1, -1)}
    if "added_cond_kwargs" in conditioning:
        out["added_cond_kwargs"] = {k: v.expand(n, -1) for k, v in conditioning["added_cond_kwargs"].items()}
    return out


def _concat(first: dict, second: dict) -> dict:
    """Conditioning for a batch made of `first`'s rows followed by `second`'s."""
    out: dict[str, Any] = {
        "encoder_hidden_states": torch.cat([first["encoder_hidden_states"], second["encoder_hidden_states"]])
    }
    if "added_cond_kwargs" in first:
        out["added_cond_kwargs"] = {
            k: torch.cat([v, second["added_cond_kwargs"][k]]) for k, v in first["added_cond_kwargs"].items()
        }
    return out


def text_encoders(pipe) -> dict:
    """The pipeline's text encoders by attribute name (one for SD1.5, two for SDXL)."""
    return {name: getattr(pipe, name) for name in TEXT_ENCODERS if getattr(pipe, name, None) is not None}


def remove_adapters(pipe) -> None:
    """Detach the "default" LoRA adapter train_lora left on the UNet and, if it trained them, the text encoders."""
    if "default" in (getattr(pipe.unet, "peft_config", None) or {}):
        pipe.unet.delete_adapters("default")
    for encoder in text_encoders(pipe).values():
        if getattr(encoder, "_hf_peft_config_loaded", False) and "default" in encoder.peft_config:
            encoder.delete_adapter("default")


def _optimizer(params_to_train, lr: float, device: torch.device) -> torch.optim.Optimizer:
    """8-bit AdamW (bitsandbytes) on a GPU when installed, else torch's AdamW, fused on a GPU."""
    if device.type == "cuda":
        try:
            import bitsandbytes as bnb

            return bnb.optim.AdamW8bit(params_to_train, lr=lr, weight_decay=1e-4)
        except ImportError:
            return torch.optim.AdamW(params_to_train, lr=lr, weight_decay=1e-4, fused=True)
    return torch.optim.AdamW(params_to_train, lr=lr, weight_decay=1e-4)


def train_lora(
    pipe,
    photos: list[Image.Image],
    instance_prompt: str,
    out_dir: Path,
    params: TrainingParams,
    progress: ProgressCallback | None = None,
    control: TrainingControl | None = None,
    resume: Checkpoint | None = None,
    prior: PriorData | None = None,
) -> TrainingResult:
    """Train a LoRA on the UNet's attention projections and save it in diffusers' LoRA format.

    With `prior`, every step also trains as many class images on the class prompt (DreamBooth prior
    preservation); with params.train_text_encoder, the text encoders get a LoRA too, saved in the same file.
    Leaves the adapters ("default") attached so the caller can render probes; the caller calls remove_adapters.
    Raises BadPhotos, TrainingStopped, or torch.OutOfMemoryError.
    """
    from diffusers import DDPMScheduler
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict

    control = control or TrainingControl(progress=progress)
    started = time.monotonic()
    torch.manual_seed(params.seed)
    resolution = params.resolution or native_resolution(pipe)
    latents = _cache_latents(pipe, augmented_crops(photos, resolution, params.augment_variants, params.seed))
    class_latents = None
    if prior is not None:
        class_latents = _cache_latents(
            pipe, [im.convert("RGB").resize((resolution, resolution), Image.Resampling.LANCZOS) for im in prior.images]
        )
    encoders = text_encoders(pipe) if params.train_text_encoder else {}
    if not encoders:  # frozen text encoders: the prompts' embeddings never change
        conditioning = _cache_conditioning(pipe, instance_prompt, resolution)
        class_conditioning = _cache_conditioning(pipe, prior.prompt, resolution) if prior else None
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)

    unet = pipe.unet
    unet.requires_grad_(False)
    unet.add_adapter(
        LoraConfig(
            r=params.rank,
            lora_alpha=params.rank,
            init_lora_weights="gaussian",
            target_modules=list(UNET_TARGET_MODULES),
        )
    )
    for encoder in encoders.values():
        encoder.requires_grad_(False)
        encoder.add_adapter(
            LoraConfig(
                r=params.rank,
                lora_alpha=params.rank,
                init_lora_weights="gaussian",
                target_modules=list(TEXT_ENCODER_TARGET_MODULES),
            )
        )
    trainable = [p for p in unet.parameters() if p.requires_grad]
    trainable += [p for encoder in encoders.values() for p in encoder.parameters() if p.requires_grad]
    for p in trainable:
        p.data = p.data.float()  # LoRA weights train in fp32 even when the base runs in bf16
    if pipe.device.type == "cuda":
        unet.enable_gradient_checkpointing()  # activations recomputed in backward: bigger batches fit
    optimizer = _optimizer(trainable, params.learning_rate, pipe.device)
    generator = torch.Generator().manual_seed(params.seed)
    first_step, loss_value = 1, float("nan")
    if resume is not None:
        set_peft_model_state_dict(unet, {k: v.to(pipe.device) for k, v in resume.lora.items()})
        if set(resume.text_lora) != set(encoders):
            raise ValueError("the checkpoint was made with other text-encoder settings")
        for name, encoder in encoders.items():
            set_peft_model_state_dict(encoder, {k: v.to(pipe.device) for k, v in resume.text_lora[name].items()})
        optimizer.load_state_dict(resume.optimizer)
        generator.set_state(resume.rng)
        first_step, loss_value = resume.step + 1, resume.loss
        log.info("resuming training at step %d of %d", first_step, params.steps)
    unet.train()
    for encoder in encoders.values():
        encoder.train()

    def cpu_state(model) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu() for k, v in get_peft_model_state_dict(model).items()}

    def checkpoint(step: int) -> None:
        if control.save_checkpoint:
            control.save_checkpoint(
                Checkpoint(
                    step=step,
                    loss=loss_value,
                    lora=cpu_state(unet),
                    optimizer=optimizer.state_dict(),
                    rng=generator.get_state(),
                    text_lora={name: cpu_state(e) for name, e in encoders.items()},
                )
            )

    run_started = time.monotonic()
    for step in range(first_step, params.steps + 1):
        # One batch: batch_size photos, then (with prior preservation) batch_size class images.
        clean = latents[torch.randint(0, latents.shape[0], (params.batch_size,), generator=generator)]
        if class_latents is not None:
            class_idx = torch.randint(0, class_latents.shape[0], (params.batch_size,), generator=generator)
            clean = torch.cat([clean, class_latents[class_idx]])
        noise = torch.randn(clean.shape, generator=generator).to(clean.device)
        timesteps = torch.randint(
            0, noise_scheduler.config.num_train_timesteps, (clean.shape[0],), generator=generator
        ).to(clean.device)
        noisy = noise_scheduler.add_noise(clean, noise, timesteps)
        target = (
            noise
            if noise_scheduler.config.prediction_type == "epsilon"
            else noise_scheduler.get_velocity(clean, noise, timesteps)
        )
        with torch.autocast(pipe.device.type, dtype=torch.bfloat16, enabled=pipe.device.type == "cuda"):
            if encoders:  # the text encoders train: their output changes every step
                conditioning = _conditioning(pipe, instance_prompt, resolution)
                class_conditioning = _conditioning(pipe, prior.prompt, resolution) if prior else None
            batch_conditioning = _repeat(conditioning, params.batch_size)
            if class_latents is not None:
                assert class_conditioning is not None  # class images come with their prompt
                batch_conditioning = _concat(batch_conditioning, _repeat(class_conditioning, params.batch_size))
            prediction = unet(noisy.to(unet.dtype), timesteps, **batch_conditioning).sample
        if class_latents is None:
            loss = F.mse_loss(prediction.float(), target.float())
        else:
            instance_pred, class_pred = prediction.float().chunk(2)
            instance_target, class_target = target.float().chunk(2)
            loss = F.mse_loss(instance_pred, instance_target) + params.prior_loss_weight * F.mse_loss(
                class_pred, class_target
            )
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = float(loss.detach())
        if control.progress:
            per_step = (time.monotonic() - run_started) / (step - first_step + 1)
            control.progress(step, params.steps, loss_value, per_step * (params.steps - step))
        if step < params.steps:
            if control.should_stop and control.should_stop():
                checkpoint(step)
                raise TrainingStopped(step)
            if control.checkpoint_every and step % control.checkpoint_every == 0:
                checkpoint(step)

    unet.eval()
    for encoder in encoders.values():
        encoder.eval()
    if pipe.device.type == "cuda":
        unet.disable_gradient_checkpointing()
    out_dir.mkdir(parents=True, exist_ok=True)
    lora_layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    text_layers = {
        f"{name}_lora_layers": convert_state_dict_to_diffusers(get_peft_model_state_dict(encoder))
        for name, encoder in encoders.items()
    }
    type(pipe).save_lora_weights(
        out_dir, unet_lora_layers=lora_layers, weight_name=ADAPTER_FILE_NAME, safe_serialization=True, **text_layers
    )
    return TrainingResult(
        adapter_path=out_dir / ADAPTER_FILE_NAME,
        steps=params.steps,
        seconds=time.monotonic() - started,
        final_loss=loss_value,
        resolution=resolution,
    )


@torch.no_grad()
def probe_likeness(pipe, prompt: str, photos: list[Image.Image], count: int, steps: int, seed: int = 0) -> dict:
    """The quality gate: render `count` probes with the attached adapter and score them against the selfies.

    A probe without a detectable face scores 0 (the tiny offline model never draws one).
    """
    analyzer = face_analyzer()
    references = [e for e in (analyzer.embed_largest(p.convert("RGB")) for p in photos) if e is not None]
    pipe.set_progress_bar_config(disable=True)
    scores = []
    for i in range(count):
        image = pipe(prompt, num_inference_steps=steps, generator=torch.Generator().manual_seed(seed + i)).images[0]
        embedding = analyzer.embed_largest(image)
        scores.append(None if embedding is None else likeness(embedding, references))
    found = [s for s in scores if s is not None]
    return {
        "likeness": round(sum(found) / count, 4) if count else 0.0,
        "probe_images": count,
        "probe_faces": len(found),
    }

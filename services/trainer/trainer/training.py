"""DreamBooth-style LoRA fine-tuning of a diffusion UNet on one person's photos (diffusers + peft)."""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from headshots_common.faces import crop_around_face, face_analyzer, likeness

log = logging.getLogger(__name__)

LORA_TARGET_MODULES = ["to_k", "to_q", "to_v", "to_out.0"]
ADAPTER_FILENAME = "pytorch_lora_weights.safetensors"


@dataclass(frozen=True)
class TrainingParams:
    steps: int
    rank: int
    learning_rate: float
    batch_size: int
    resolution: int  # 0: the base model's native size
    seed: int


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

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(vars(self), buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Checkpoint":
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
    pipe = DiffusionPipeline.from_pretrained(base_model, torch_dtype=dtype)
    return pipe.to(device)


def is_sdxl(pipe) -> bool:
    return getattr(pipe, "text_encoder_2", None) is not None


def native_resolution(pipe) -> int:
    return pipe.unet.config.sample_size * pipe.vae_scale_factor


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
            crops.append(photo.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS))
    if not faces_found:
        raise BadPhotos(f"no face found in any of the {len(photos)} photos")
    return crops


def _to_tensor(images: list[Image.Image], device, dtype) -> torch.Tensor:
    arrays = np.stack([np.asarray(im, dtype=np.float32) / 127.5 - 1.0 for im in images])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).to(device=device, dtype=dtype)


@torch.no_grad()
def _cache_latents(pipe, images: list[Image.Image]) -> torch.Tensor:
    """Encode each photo and its mirror image once; training never runs the VAE again."""
    mirrored = images + [im.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for im in images]
    pixels = _to_tensor(mirrored, pipe.device, pipe.vae.dtype)
    latents = pipe.vae.encode(pixels).latent_dist.mean
    return (latents * pipe.vae.config.scaling_factor).float()


@torch.no_grad()
def _cache_conditioning(pipe, prompt: str, resolution: int) -> dict:
    """Text embeddings (and SDXL's pooled embeddings and size ids) for the instance prompt, computed once."""
    if is_sdxl(pipe):
        embeds, _, pooled, _ = pipe.encode_prompt(prompt, device=pipe.device, num_images_per_prompt=1,
                                                  do_classifier_free_guidance=False)
        time_ids = torch.tensor([[resolution, resolution, 0, 0, resolution, resolution]], device=pipe.device)
        return {"encoder_hidden_states": embeds.float(),
                "added_cond_kwargs": {"text_embeds": pooled.float(), "time_ids": time_ids.float()}}
    embeds, _ = pipe.encode_prompt(prompt, device=pipe.device, num_images_per_prompt=1,
                                   do_classifier_free_guidance=False)
    return {"encoder_hidden_states": embeds.float()}


def _repeat(conditioning: dict, n: int) -> dict:
    out = {"encoder_hidden_states": conditioning["encoder_hidden_states"].expand(n, -1, -1)}
    if "added_cond_kwargs" in conditioning:
        out["added_cond_kwargs"] = {k: v.expand(n, -1) for k, v in conditioning["added_cond_kwargs"].items()}
    return out


def _optimizer(params_to_train, lr: float, device: torch.device) -> torch.optim.Optimizer:
    """8-bit AdamW (bitsandbytes) on a GPU when installed, else torch's AdamW, fused on a GPU."""
    if device.type == "cuda":
        try:
            import bitsandbytes as bnb

            return bnb.optim.AdamW8bit(params_to_train, lr=lr, weight_decay=1e-4)
        except ImportError:
            return torch.optim.AdamW(params_to_train, lr=lr, weight_decay=1e-4, fused=True)
    return torch.optim.AdamW(params_to_train, lr=lr, weight_decay=1e-4)


def train_lora(pipe, photos: list[Image.Image], instance_prompt: str, out_dir: Path, params: TrainingParams,
               progress: ProgressCallback | None = None, control: TrainingControl | None = None,
               resume: Checkpoint | None = None) -> TrainingResult:
    """Train a LoRA on the UNet's attention projections and save it in diffusers' LoRA format.

    Leaves the adapter ("default") attached to `pipe.unet` so the caller can render probes; the caller removes it.
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
    latents = _cache_latents(pipe, face_crops(photos, resolution))
    conditioning = _cache_conditioning(pipe, instance_prompt, resolution)
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)

    unet = pipe.unet
    unet.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=params.rank, lora_alpha=params.rank, init_lora_weights="gaussian",
                                target_modules=LORA_TARGET_MODULES))
    trainable = [p for p in unet.parameters() if p.requires_grad]
    for p in trainable:
        p.data = p.data.float()  # LoRA weights train in fp32 even when the base runs in bf16
    if pipe.device.type == "cuda":
        unet.enable_gradient_checkpointing()  # activations recomputed in backward: bigger batches fit
    optimizer = _optimizer(trainable, params.learning_rate, pipe.device)
    generator = torch.Generator().manual_seed(params.seed)
    first_step, loss_value = 1, float("nan")
    if resume is not None:
        set_peft_model_state_dict(unet, {k: v.to(pipe.device) for k, v in resume.lora.items()})
        optimizer.load_state_dict(resume.optimizer)
        generator.set_state(resume.rng)
        first_step, loss_value = resume.step + 1, resume.loss
        log.info("resuming training at step %d of %d", first_step, params.steps)
    unet.train()

    def checkpoint(step: int) -> None:
        if control.save_checkpoint:
            lora = {k: v.detach().cpu() for k, v in get_peft_model_state_dict(unet).items()}
            control.save_checkpoint(Checkpoint(step=step, loss=loss_value, lora=lora,
                                               optimizer=optimizer.state_dict(), rng=generator.get_state()))

    run_started = time.monotonic()
    for step in range(first_step, params.steps + 1):
        idx = torch.randint(0, latents.shape[0], (params.batch_size,), generator=generator)
        clean = latents[idx]
        noise = torch.randn(clean.shape, generator=generator).to(clean.device)
        timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (params.batch_size,),
                                  generator=generator).to(clean.device)
        noisy = noise_scheduler.add_noise(clean, noise, timesteps)
        target = noise if noise_scheduler.config.prediction_type == "epsilon" else \
            noise_scheduler.get_velocity(clean, noise, timesteps)
        with torch.autocast(pipe.device.type, dtype=torch.bfloat16, enabled=pipe.device.type == "cuda"):
            prediction = unet(noisy.to(unet.dtype), timesteps, **_repeat(conditioning, params.batch_size)).sample
        loss = F.mse_loss(prediction.float(), target.float())
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
    if pipe.device.type == "cuda":
        unet.disable_gradient_checkpointing()
    out_dir.mkdir(parents=True, exist_ok=True)
    lora_layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    type(pipe).save_lora_weights(out_dir, unet_lora_layers=lora_layers, weight_name=ADAPTER_FILENAME,
                                 safe_serialization=True)
    return TrainingResult(adapter_path=out_dir / ADAPTER_FILENAME, steps=params.steps,
                          seconds=time.monotonic() - started, final_loss=loss_value, resolution=resolution)


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
    return {"likeness": round(sum(found) / count, 4) if count else 0.0, "probe_images": count,
            "probe_faces": len(found)}

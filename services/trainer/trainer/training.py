"""DreamBooth-style LoRA fine-tuning of a diffusion UNet on one person's photos, on a warm worker.

`TrainingEngine` is what a worker keeps from one job to the next: the resident pipeline, the LoRA layers put on it
once (`trainer.lora`), the UNet compiled once when `compile` is on, each prompt's conditioning and each class's
image latents. A job (`TrainingEngine.train`) re-initialises the LoRA weights in place, makes a fresh optimizer
and runs the loop:
  - the face crops (from the boxes the photo checker stored: `trainer.photos`) and their mirror images are
    encoded once; the VAE never runs again;
  - each step draws photos, noise and timesteps from one seeded generator (a checkpoint saves its state), runs
    the UNet on conditioning made contiguous once per batch size, and steps a fused AdamW; the loss is read back
    (a device sync) only every `TrainingControl.loss_every` steps, at checkpoints and at the end;
  - gradient checkpointing is off unless the run asks for it (`TrainingParams.gradient_checkpointing`): the
    worker's out-of-memory retry turns it on before it halves the batch.
Optional, per TrainingParams / arguments of `train`:
  prior preservation   class images of the subject class (trainer.priors) are trained beside the photos on
                       the class prompt; the loss is instance loss + prior_loss_weight x class loss
  text-encoder LoRA    LoRA on the text encoder(s) too; prompt embeddings are then computed every step
  augmentation         a few random zoomed crops of each face crop (deterministic per seed), besides mirrors
"""

from __future__ import annotations

import io
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from headshots.v1 import common_pb2
from headshots_common.adapter_format import TEXT_ENCODER_TARGET_MODULES, TEXT_ENCODERS, UNET_TARGET_MODULES
from headshots_common.basemodel import native_resolution
from headshots_common.faces import face_analyzer, likeness
from trainer.lora import LoraLayers, save_adapter
from trainer.photos import BadPhotos, FacePhoto, augmented_crops, reference_embeddings

if TYPE_CHECKING:
    from trainer.config import TrainerConfig

__all__ = ["BadPhotos"]  # raised by train: the photos hold no face

log = logging.getLogger(__name__)

VAE_ENCODE_CHUNK = 8  # images per VAE forward pass while caching latents (bounds memory at 1024 px)
CLASS_LATENT_SETS = 4  # class-image sets whose latents a worker keeps (one per subject class and resolution)
LOSS_READ_EVERY = 10  # steps between reading the loss back from the device (each read waits for the GPU)
WEIGHT_DECAY = 1e-4
# The LoRA weights' initial draws come from seed + this, so they are not the same numbers as the first step's noise.
LORA_INIT_SEED_OFFSET = 7919


@dataclass(frozen=True)
class TrainingParams:
    steps: int
    rank: int
    learning_rate: float
    batch_size: int
    resolution: int  # 0: the base model's native size
    seed: int
    prior_loss_weight: float = 1.0  # used when train is given class images
    train_text_encoder: bool = False
    augment_variants: int = 0  # extra random crops per photo (each also mirrored)
    gradient_checkpointing: bool = False  # recompute activations in backward: bigger batches fit, each step costs more


def training_params(config: TrainerConfig, profile: common_pb2.TrainingProfile) -> TrainingParams:
    """What an order of this training profile trains with, from the worker's configuration (the one place)."""
    steps, batch_size = config.steps_and_batch(profile)
    return TrainingParams(
        steps=steps,
        rank=config.rank,
        learning_rate=config.learning_rate,
        batch_size=batch_size,
        resolution=config.resolution,
        seed=config.seed,
        prior_loss_weight=config.prior_loss_weight,
        train_text_encoder=config.train_text_encoder,
        augment_variants=config.augment_variants,
    )


@dataclass(frozen=True)
class PriorData:
    """Prior preservation: images of the subject class made by the base model, and the prompt that made them.
    `key` names the set (its blob prefix): a worker encodes a set it has seen before only once."""

    images: list[Image.Image]
    prompt: str
    key: str = ""


@dataclass(frozen=True)
class TrainingResult:
    adapter_path: Path
    steps: int
    seconds: float
    final_loss: float
    resolution: int


ProgressCallback = Callable[[int, int, float, float], None]  # step, total, loss, eta seconds


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
    """What the caller hooks in between steps (all called on the training thread: keep them cheap)."""

    progress: ProgressCallback | None = None
    checkpoint_every: int = 0
    save_checkpoint: Callable[[Checkpoint], None] | None = None
    should_stop: Callable[[], bool] | None = None  # checked every step: cancel or shutdown
    phase_done: Callable[[], None] | None = None  # after each set-up phase (crops, latents): progress before step 1
    loss_every: int = LOSS_READ_EVERY  # steps between loss reads; progress reports the last loss read


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


def text_encoders(pipe) -> dict:
    """The pipeline's text encoders by attribute name (one for SD1.5, two for SDXL)."""
    return {name: getattr(pipe, name) for name in TEXT_ENCODERS if getattr(pipe, name, None) is not None}


def compile_by_default(device: torch.device) -> bool:
    """torch.compile pays where a worker's jobs outweigh its compilation: on a GPU. On a CPU it does not: the test
    model's step went from 30 to 22 ms, after 6 minutes of compiling on the development machine (docs/trainer.md)."""
    return device.type == "cuda"


@torch.no_grad()
def _cache_latents(pipe, images: list[Image.Image]) -> torch.Tensor:
    """Encode each image and its mirror image once; training never runs the VAE again."""
    mirrored = images + [im.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for im in images]
    chunks = []
    for start in range(0, len(mirrored), VAE_ENCODE_CHUNK):
        pixels = _to_tensor(mirrored[start : start + VAE_ENCODE_CHUNK], pipe.device, pipe.vae.dtype)
        chunks.append(pipe.vae.encode(pixels).latent_dist.mean.float())
    return torch.cat(chunks) * pipe.vae.config.scaling_factor


def _to_tensor(images: list[Image.Image], device, dtype) -> torch.Tensor:
    arrays = np.stack([np.asarray(im, dtype=np.float32) / 127.5 - 1.0 for im in images])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).to(device=device, dtype=dtype)


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


def _batch(conditioning: dict, n: int, then: dict | None = None) -> dict:
    """Conditioning for a batch of `n` rows of `conditioning` (followed by `n` rows of `then`), contiguous: an
    expanded (stride 0) tensor would be copied by every projection of every step."""

    def rows(tensor: torch.Tensor, other: torch.Tensor | None) -> torch.Tensor:
        parts = [tensor.expand(n, *tensor.shape[1:])]
        if other is not None:
            parts.append(other.expand(n, *other.shape[1:]))
        return torch.cat(parts).contiguous()

    out: dict[str, Any] = {
        "encoder_hidden_states": rows(
            conditioning["encoder_hidden_states"], then["encoder_hidden_states"] if then else None
        )
    }
    if "added_cond_kwargs" in conditioning:
        out["added_cond_kwargs"] = {
            k: rows(v, then["added_cond_kwargs"][k] if then else None)
            for k, v in conditioning["added_cond_kwargs"].items()
        }
    return out


class TrainingEngine:
    """One worker's training state, kept from job to job (see the module's docstring). Not thread-safe: one job
    at a time, on the worker's torch thread."""

    def __init__(self, pipe, compile: bool = False):
        self.pipe = pipe
        self.device = pipe.device
        self.compile = compile
        self.unet_lora: LoraLayers | None = None
        self.text_lora: dict[str, LoraLayers] = {}
        self._train_unet: Any = None  # the UNet the loop calls: compiled (once per LoRA layout) or the module
        self._conditioning: dict[tuple[str, int], dict] = {}
        self._class_latents: dict[tuple[str, int], torch.Tensor] = {}
        if self.device.type == "cuda":
            from diffusers.models.attention_processor import AttnProcessor2_0

            torch.backends.cuda.matmul.allow_tf32 = True  # the fp32 LoRA products (bf16 ones are unaffected)
            torch.backends.cudnn.allow_tf32 = True
            pipe.unet.set_attn_processor(AttnProcessor2_0())  # scaled_dot_product_attention (flash / mem-efficient)
            pipe.unet.to(memory_format=torch.channels_last)

    # -- warm state ----------------------------------------------------------------------------------------------
    def _lora_for(self, params: TrainingParams) -> tuple[LoraLayers, dict[str, LoraLayers]]:
        """The LoRA layers at the run's rank (put on once; again only if the rank changes), text encoders' too."""
        if self.unet_lora is None or self.unet_lora.rank != params.rank:
            if self.unet_lora is not None:
                self.unet_lora.remove()
                for layers in self.text_lora.values():
                    layers.remove()
                self.text_lora = {}
            self.unet_lora = LoraLayers(self.pipe.unet, UNET_TARGET_MODULES, params.rank)
            self.pipe.unet.requires_grad_(False)
            for p in self.unet_lora.parameters():
                p.requires_grad_(True)
            self._train_unet = torch.compile(self.pipe.unet) if self.compile else self.pipe.unet
        text = {}
        if params.train_text_encoder:
            for name, encoder in text_encoders(self.pipe).items():
                if name not in self.text_lora:
                    self.text_lora[name] = LoraLayers(encoder, TEXT_ENCODER_TARGET_MODULES, params.rank)
                    encoder.requires_grad_(False)
                    for p in self.text_lora[name].parameters():
                        p.requires_grad_(True)
                text[name] = self.text_lora[name]
        return self.unet_lora, text

    def conditioning(self, prompt: str, resolution: int) -> dict:
        """A prompt's conditioning through the frozen text encoders, computed once per worker."""
        key = (prompt, resolution)
        if key not in self._conditioning:
            with torch.no_grad():
                self._conditioning[key] = _conditioning(self.pipe, prompt, resolution)
        return self._conditioning[key]

    def class_latents(self, prior: PriorData, resolution: int) -> torch.Tensor:
        """The class images' latents (and their mirrors'), encoded once per worker and set of class images."""
        key = (prior.key, resolution)
        cached = self._class_latents.get(key) if prior.key else None
        if cached is None:
            images = [
                im.convert("RGB").resize((resolution, resolution), Image.Resampling.LANCZOS) for im in prior.images
            ]
            cached = _cache_latents(self.pipe, images)
            if prior.key:
                while len(self._class_latents) >= CLASS_LATENT_SETS:
                    self._class_latents.pop(next(iter(self._class_latents)))
                self._class_latents[key] = cached
        return cached

    def detach(self) -> None:
        """Every LoRA layer off: the pipeline renders as the base model (class images) until the next job."""
        for layers in [self.unet_lora, *self.text_lora.values()]:
            if layers is not None:
                layers.enable(False)

    # -- one job -------------------------------------------------------------------------------------------------
    def train(
        self,
        photos: Sequence[FacePhoto | Image.Image],
        instance_prompt: str,
        out_dir: Path,
        params: TrainingParams,
        control: TrainingControl | None = None,
        resume: Checkpoint | None = None,
        prior: PriorData | None = None,
    ) -> TrainingResult:
        """Train a LoRA on the UNet's attention projections and save it in diffusers' LoRA format.

        With `prior`, every step also trains as many class images on the class prompt (DreamBooth prior
        preservation); with params.train_text_encoder, the text encoders get a LoRA too, saved in the same file.
        Leaves the LoRA on, so the caller can render probes; `detach` turns it off.
        Raises BadPhotos, TrainingStopped, or torch.OutOfMemoryError.
        """
        from diffusers import DDPMScheduler

        control = control or TrainingControl()
        pipe, device = self.pipe, self.device
        started = time.monotonic()
        resolution = params.resolution or native_resolution(pipe)
        phase_done = control.phase_done or (lambda: None)
        crops = augmented_crops(photos, resolution, params.augment_variants, params.seed)
        phase_done()
        latents = _cache_latents(pipe, crops)
        phase_done()
        class_latents = self.class_latents(prior, resolution) if prior is not None else None
        phase_done()
        noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)

        unet_lora, text_lora = self._lora_for(params)
        self.detach()
        init = torch.Generator().manual_seed(params.seed + LORA_INIT_SEED_OFFSET)
        unet_lora.reset(init)
        unet_lora.enable()
        for layers in text_lora.values():
            layers.reset(init)
            layers.enable()
        if params.gradient_checkpointing:
            pipe.unet.enable_gradient_checkpointing()
        trainable = unet_lora.parameters() + [p for layers in text_lora.values() for p in layers.parameters()]
        optimizer = torch.optim.AdamW(trainable, lr=params.learning_rate, weight_decay=WEIGHT_DECAY, fused=True)
        generator = torch.Generator().manual_seed(params.seed)  # photos, noise and timesteps, as the peft loop drew
        first_step, loss_value = 1, float("nan")
        if resume is not None:
            unet_lora.load_state_dict({k: v.to(device) for k, v in resume.lora.items()})
            if set(resume.text_lora) != set(text_lora):
                raise ValueError("the checkpoint was made with other text-encoder settings")
            for name, layers in text_lora.items():
                layers.load_state_dict({k: v.to(device) for k, v in resume.text_lora[name].items()})
            optimizer.load_state_dict(resume.optimizer)
            generator.set_state(resume.rng)
            first_step, loss_value = resume.step + 1, resume.loss
            log.info("resuming training at step %d of %d", first_step, params.steps)
        if not text_lora:  # frozen text encoders: the batch's conditioning is the same at every step
            instance = self.conditioning(instance_prompt, resolution)
            classes = self.conditioning(prior.prompt, resolution) if prior else None
            batch_conditioning = _batch(instance, params.batch_size, classes)
        phase_done()

        def checkpoint(step: int) -> None:
            if control.save_checkpoint:
                control.save_checkpoint(
                    Checkpoint(
                        step=step,
                        loss=loss_value,
                        lora={k: v.cpu() for k, v in unet_lora.state_dict().items()},
                        optimizer=optimizer.state_dict(),
                        rng=generator.get_state(),
                        text_lora={
                            name: {k: v.cpu() for k, v in layers.state_dict().items()}
                            for name, layers in text_lora.items()
                        },
                    )
                )

        unet = self._train_unet
        run_started = time.monotonic()
        try:
            for step in range(first_step, params.steps + 1):
                # One batch: batch_size photos, then (with prior preservation) batch_size class images.
                clean = latents[torch.randint(0, latents.shape[0], (params.batch_size,), generator=generator)]
                if class_latents is not None:
                    class_idx = torch.randint(0, class_latents.shape[0], (params.batch_size,), generator=generator)
                    clean = torch.cat([clean, class_latents[class_idx]])
                noise = torch.randn(clean.shape, generator=generator).to(device)
                timesteps = torch.randint(
                    0, noise_scheduler.config.num_train_timesteps, (clean.shape[0],), generator=generator
                ).to(device)
                noisy = noise_scheduler.add_noise(clean, noise, timesteps)
                target = (
                    noise
                    if noise_scheduler.config.prediction_type == "epsilon"
                    else noise_scheduler.get_velocity(clean, noise, timesteps)
                )
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    if text_lora:  # the text encoders train: their output changes every step
                        instance = _conditioning(pipe, instance_prompt, resolution)
                        classes = _conditioning(pipe, prior.prompt, resolution) if prior else None
                        batch_conditioning = _batch(instance, params.batch_size, classes)
                    prediction = unet(noisy.to(pipe.unet.dtype), timesteps, **batch_conditioning).sample
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
                saving = step < params.steps and bool(control.checkpoint_every) and step % control.checkpoint_every == 0
                if step == params.steps or saving or (step - first_step) % max(1, control.loss_every) == 0:
                    loss_value = float(loss.detach())
                if control.progress:
                    per_step = (time.monotonic() - run_started) / (step - first_step + 1)
                    control.progress(step, params.steps, loss_value, per_step * (params.steps - step))
                if step < params.steps and control.should_stop and control.should_stop():
                    loss_value = float(loss.detach())
                    checkpoint(step)
                    raise TrainingStopped(step)
                if saving:
                    checkpoint(step)
        finally:
            if params.gradient_checkpointing:
                pipe.unet.disable_gradient_checkpointing()
        adapter_path = save_adapter(pipe, out_dir, unet_lora, text_lora)
        return TrainingResult(
            adapter_path=adapter_path,
            steps=params.steps,
            seconds=time.monotonic() - started,
            final_loss=loss_value,
            resolution=resolution,
        )

    @torch.no_grad()
    def probe_likeness(
        self, prompt: str, photos: Sequence[FacePhoto | Image.Image], count: int, steps: int, seed: int = 0
    ) -> dict:
        """The quality gate: render `count` probes (one batch) with the LoRA on and score them against the selfies'
        embeddings (the stored ones where the photo checker left them).

        A probe without a detectable face scores 0 (the tiny offline model never draws one).
        """
        if not count:
            return {"likeness": 0.0, "probe_images": 0, "probe_faces": 0}
        references = reference_embeddings(photos)
        self.pipe.set_progress_bar_config(disable=True)
        images = self.pipe(
            prompt,
            num_images_per_prompt=count,
            num_inference_steps=steps,
            generator=[torch.Generator().manual_seed(seed + i) for i in range(count)],
        ).images
        analyzer = face_analyzer()
        embeddings = [analyzer.embed_largest(image) for image in images]
        found = [likeness(e, references) for e in embeddings if e is not None]
        return {"likeness": round(sum(found) / count, 4), "probe_images": count, "probe_faces": len(found)}


_engines: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def engine_for(pipe) -> TrainingEngine:
    """The pipeline's engine (made on first use, eager): what `train_lora` and `remove_adapters` use."""
    engine = _engines.get(pipe)
    if engine is None:
        engine = _engines[pipe] = TrainingEngine(pipe)
    return engine


def train_lora(
    pipe,
    photos: Sequence[FacePhoto | Image.Image],
    instance_prompt: str,
    out_dir: Path,
    params: TrainingParams,
    progress: ProgressCallback | None = None,
    control: TrainingControl | None = None,
    resume: Checkpoint | None = None,
    prior: PriorData | None = None,
) -> TrainingResult:
    """One run on the pipeline's engine (`TrainingEngine.train`); the LoRA stays on until `remove_adapters`."""
    return engine_for(pipe).train(
        photos, instance_prompt, out_dir, params, control or TrainingControl(progress=progress), resume, prior
    )


def remove_adapters(pipe) -> None:
    """Turn the LoRA `train_lora` left on the pipeline off (its layers stay, for the next run)."""
    engine_for(pipe).detach()


def probe_likeness(pipe, prompt: str, photos, count: int, steps: int, seed: int = 0) -> dict:
    return engine_for(pipe).probe_likeness(prompt, photos, count, steps, seed)

"""The trainer's training loop as it was before the warm worker, kept for test_same_result.py only: a peft adapter
added for the run and deleted after, plain (for-loop) AdamW, the conditioning expanded (not copied) every step,
the UNet in train mode, the loss read back every step. It takes the face crops ready-made, so both loops see the
same pixels, and the LoRA A weights to start from, so both start from the same adapter."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from headshots_common.adapter_format import ADAPTER_FILE_NAME, UNET_TARGET_MODULES
from trainer.training import PriorData, TrainingParams, _cache_latents, _conditioning


def _repeat(conditioning: dict, n: int) -> dict:
    out = {"encoder_hidden_states": conditioning["encoder_hidden_states"].expand(n, -1, -1)}
    if "added_cond_kwargs" in conditioning:
        out["added_cond_kwargs"] = {k: v.expand(n, -1) for k, v in conditioning["added_cond_kwargs"].items()}
    return out


def _concat(first: dict, second: dict) -> dict:
    out = {"encoder_hidden_states": torch.cat([first["encoder_hidden_states"], second["encoder_hidden_states"]])}
    if "added_cond_kwargs" in first:
        out["added_cond_kwargs"] = {
            k: torch.cat([v, second["added_cond_kwargs"][k]]) for k, v in first["added_cond_kwargs"].items()
        }
    return out


def train_peft_reference(
    pipe,
    crops: list[Image.Image],
    instance_prompt: str,
    out_dir: Path,
    params: TrainingParams,
    lora_a: list[torch.Tensor],
    prior: PriorData | None = None,
) -> tuple[Path, list[float]]:
    """Train as the old loop did; returns the adapter file and the loss of every step."""
    from diffusers import DDPMScheduler
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    resolution = params.resolution or pipe.unet.config.sample_size * pipe.vae_scale_factor
    latents = _cache_latents(pipe, crops)
    class_latents = None
    if prior is not None:
        class_latents = _cache_latents(
            pipe, [im.convert("RGB").resize((resolution, resolution), Image.Resampling.LANCZOS) for im in prior.images]
        )
    with torch.no_grad():
        conditioning = _conditioning(pipe, instance_prompt, resolution)
        class_conditioning = _conditioning(pipe, prior.prompt, resolution) if prior else None
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
    try:
        a_weights = [p for name, p in unet.named_parameters() if ".lora_A." in name]
        assert len(a_weights) == len(lora_a)
        with torch.no_grad():
            for weight, start in zip(a_weights, lora_a, strict=True):
                weight.copy_(start)
        trainable = [p for p in unet.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=params.learning_rate, weight_decay=1e-4)
        generator = torch.Generator().manual_seed(params.seed)
        unet.train()
        losses = []
        for _ in range(params.steps):
            clean = latents[torch.randint(0, latents.shape[0], (params.batch_size,), generator=generator)]
            if class_latents is not None:
                class_idx = torch.randint(0, class_latents.shape[0], (params.batch_size,), generator=generator)
                clean = torch.cat([clean, class_latents[class_idx]])
            noise = torch.randn(clean.shape, generator=generator)
            timesteps = torch.randint(
                0, noise_scheduler.config.num_train_timesteps, (clean.shape[0],), generator=generator
            )
            noisy = noise_scheduler.add_noise(clean, noise, timesteps)
            target = (
                noise
                if noise_scheduler.config.prediction_type == "epsilon"
                else noise_scheduler.get_velocity(clean, noise, timesteps)
            )
            batch_conditioning = _repeat(conditioning, params.batch_size)
            if class_latents is not None:
                batch_conditioning = _concat(batch_conditioning, _repeat(class_conditioning, params.batch_size))
            prediction = unet(noisy, timesteps, **batch_conditioning).sample
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
            losses.append(float(loss.detach()))
        unet.eval()
        out_dir.mkdir(parents=True, exist_ok=True)
        lora_layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
        type(pipe).save_lora_weights(
            out_dir, unet_lora_layers=lora_layers, weight_name=ADAPTER_FILE_NAME, safe_serialization=True
        )
    finally:
        unet.delete_adapters("default")
    return out_dir / ADAPTER_FILE_NAME, losses

"""Helpers shared by the renderer tests: LoRA adapter files for the tiny model, written like the trainer writes them."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from headshots_common.adapter_format import ADAPTER_FILE_NAME, TEXT_ENCODER_TARGET_MODULES, UNET_TARGET_MODULES
from renderer.lora import AdapterBank, AdapterManager

LORA_B_STD = 0.1  # lora_B ~ N(0, 0.1): a clearly visible adapter, not a chaotic one


def sd_pipe(model: str):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(model, safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _with_random_lora(module, rank: int, seed: int, target_modules):
    """A copy of `module` with a peft LoRA whose up weights are random (a fresh LoRA changes nothing)."""
    from peft import LoraConfig

    module = copy.deepcopy(module)
    torch.manual_seed(seed)
    module.add_adapter(
        LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian", target_modules=list(target_modules))
    )
    generator = torch.Generator().manual_seed(seed + 1000)
    with torch.no_grad():
        for name, param in module.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * LORA_B_STD)
    return module


def make_adapter(
    unet, rank: int, seed: int, out_dir: Path, text_encoders: dict | None = None, pipeline_class=None
) -> Path:
    """An adapter file as the trainer writes it: UNet LoRA and, given `text_encoders` (name -> module), theirs."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    layers = {
        "unet_lora_layers": convert_state_dict_to_diffusers(
            get_peft_model_state_dict(_with_random_lora(unet, rank, seed, UNET_TARGET_MODULES))
        )
    }
    for i, (name, encoder) in enumerate((text_encoders or {}).items(), start=1):
        trained = _with_random_lora(encoder, rank, seed + 100 * i, TEXT_ENCODER_TARGET_MODULES)
        layers[f"{name}_lora_layers"] = convert_state_dict_to_diffusers(get_peft_model_state_dict(trained))
    (pipeline_class or StableDiffusionPipeline).save_lora_weights(out_dir, weight_name=ADAPTER_FILE_NAME, **layers)
    return out_dir / ADAPTER_FILE_NAME


def manager_for(bank: AdapterBank, files: dict[str, Path], host_capacity: int = 64) -> AdapterManager:
    """An adapter manager without a blob store: each adapter id registered with its file's path."""
    manager = AdapterManager(bank, blobs=None, host_capacity=host_capacity)
    for adapter_id, path in files.items():
        manager.register(adapter_id, str(path))
    return manager

"""The adapter format: what a person's LoRA adapter is, as the trainer writes it and the renderer reads it.

One safetensors file in diffusers' LoRA format (`save_lora_weights`): for every targeted linear
layer a down (A, rank x in) and an up (B, out x rank) weight, keys prefixed by the pipeline
component ("unet." and, when the text encoders were trained too, "text_encoder." /
"text_encoder_2."), and peft's LoraConfig of each component in the file's metadata
(`lora_alpha`; the scale of a layer is alpha / rank). Beside it, a JSON manifest says how it
was made; it is written last, so its presence marks the adapter complete.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

ADAPTER_FILE_NAME = "pytorch_lora_weights.safetensors"

# Linear layers that carry LoRA, by the name their module has in the UNet / the CLIP text encoders.
UNET_TARGET_MODULES: tuple[str, ...] = ("to_k", "to_q", "to_v", "to_out.0")
TEXT_ENCODER_TARGET_MODULES: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "out_proj")

# Pipeline components an adapter may hold layers for, as they prefix the file's keys.
UNET = "unet"
TEXT_ENCODERS: tuple[str, ...] = ("text_encoder", "text_encoder_2")  # SD1.5 has the first only
COMPONENTS: tuple[str, ...] = (UNET, *TEXT_ENCODERS)
TARGET_MODULES: dict[str, tuple[str, ...]] = {
    UNET: UNET_TARGET_MODULES,
    **dict.fromkeys(TEXT_ENCODERS, TEXT_ENCODER_TARGET_MODULES),
}

# diffusers writes each component's LoraConfig as JSON under this safetensors metadata key
# (diffusers.loaders.lora_base.LORA_ADAPTER_METADATA_KEY), fields prefixed "<component>.".
LORA_METADATA_KEY = "lora_adapter_metadata"

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class PriorPreservation:
    class_prompt: str
    class_images: int
    prior_loss_weight: float
    class_images_prefix: str


@dataclass(frozen=True)
class AdapterManifest:
    """How an adapter was made: the base model it belongs to, the identifier it binds, the training run."""

    order_id: str
    adapter_key: str
    base_model: str
    base_model_hash: str  # sha256 over a local base model folder; "" for a hub id
    base_model_arch: str
    token: str  # the rare identifier bound to the person ("sks")
    subject_phrase: str  # the prompt fragment that names the person ("sks person")
    instance_prompt: str
    rank: int
    steps: int
    batch_size: int
    learning_rate: float
    resolution: int
    resumed_from_step: int
    seconds: float
    train_text_encoder: bool
    augment_variants: int
    prior_preservation: PriorPreservation | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # final_loss, likeness, probe_images, probe_faces
    version: int = MANIFEST_VERSION

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> AdapterManifest:
        """ValueError naming what is wrong for a manifest this code cannot read."""
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the adapter manifest is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            raise ValueError(
                f"unsupported adapter manifest version {data.get('version') if isinstance(data, dict) else None!r}"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(n for n in names - set(data) if n not in ("prior_preservation", "metrics"))
        if missing:
            raise ValueError(f"the adapter manifest lacks {', '.join(missing)}")
        prior = data.get("prior_preservation")
        return cls(
            **{k: v for k, v in data.items() if k in names and k != "prior_preservation"},
            prior_preservation=PriorPreservation(**prior) if prior else None,
        )

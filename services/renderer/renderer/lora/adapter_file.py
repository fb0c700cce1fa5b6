"""Reading an adapter file into host RAM: the LoRA layers of a diffusers- or peft-format safetensors file.

What an adapter is (components, target modules, file name, metadata) is `headshots_common.adapter_format`;
this module turns such a file into per-layer (A, B, scale) CPU tensors, grouped by pipeline component
(the UNet and, when they were trained too, the text encoders), and refuses anything it cannot serve
exactly, with a ValueError naming the offending key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from headshots_common.adapter_format import COMPONENTS, LORA_METADATA_KEY, UNET

# (suffix, role): diffusers' current save format, peft format, and older diffusers formats.
_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".lora.down.weight", "A"),
    (".lora.up.weight", "B"),
    (".lora_A.weight", "A"),
    (".lora_B.weight", "B"),
    (".lora_linear_layer.down.weight", "A"),
    (".lora_linear_layer.up.weight", "B"),
    (".alpha", "alpha"),
)
# Key prefixes and the component they name: diffusers' files prefix every key with its component
# ("text_encoder_2." before "text_encoder.", the longer first); a bare peft state dict is the UNet's.
_PREFIXES: tuple[tuple[str, str], ...] = (
    *sorted(((f"{c}.", c) for c in COMPONENTS), key=lambda item: -len(item[0])),
    ("base_model.model.", UNET),
)


@dataclass(frozen=True)
class LoraLayerWeights:
    """One layer of one adapter: A [r, in], B [out, r] (CPU tensors) and its alpha/r scale."""

    A: torch.Tensor
    B: torch.Tensor
    scale: float
    keys: tuple[str, str] = ("", "")  # the file's keys of A and B, for error messages

    @property
    def rank(self) -> int:
        return self.A.shape[0]


@dataclass
class ParsedAdapter:
    """An adapter's layers: the UNet's by module name (e.g. ``down_blocks.1....attn1.to_q``) and, when the
    text encoders were trained too, theirs by component and module name (``encoder.layers.0.self_attn.q_proj``)."""

    layers: dict[str, LoraLayerWeights]
    adapter_id: str | None = None
    source: str | None = None
    text_layers: dict[str, dict[str, LoraLayerWeights]] = field(default_factory=dict)

    def layers_of(self, component: str) -> dict[str, LoraLayerWeights]:
        return self.layers if component == UNET else self.text_layers.get(component, {})

    @property
    def components(self) -> list[str]:
        return [UNET, *self.text_layers] if self.layers else list(self.text_layers)

    @property
    def max_rank(self) -> int:
        return max((w.rank for c in self.components for w in self.layers_of(c).values()), default=0)

    @property
    def nbytes(self) -> int:
        return sum(
            w.A.numel() * w.A.element_size() + w.B.numel() * w.B.element_size()
            for c in self.components
            for w in self.layers_of(c).values()
        )


def _split_key(key: str) -> tuple[str, str, str]:
    """(component, module name, role) of a file key."""
    name, component = key, UNET
    for prefix, prefix_component in _PREFIXES:
        if name.startswith(prefix):
            name, component = name[len(prefix) :], prefix_component
            break
    for suffix, role in _SUFFIXES:
        if name.endswith(suffix):
            return component, name[: -len(suffix)], role
    raise ValueError(f"unsupported LoRA key {key!r}: expected keys ending in {', '.join(s for s, _ in _SUFFIXES)}")


def _alpha_from_metadata(metadata: Mapping[str, Any] | None, module: str, rank: int) -> float:
    """peft-style lora_alpha / alpha_pattern from diffusers' safetensors metadata; default r."""
    if not metadata:
        return float(rank)
    pattern = metadata.get("alpha_pattern") or {}
    for key, value in pattern.items():
        if module == key or module.endswith("." + key):
            return float(value)
    if metadata.get("lora_alpha") is not None:
        return float(metadata["lora_alpha"])
    return float(rank)


def parse_lora_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    metadata: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    adapter_id: str | None = None,
    source: str | None = None,
) -> ParsedAdapter:
    """Group a diffusers- or peft-format LoRA state dict by component and module; ValueError naming the key.

    `metadata` is each component's LoraConfig fields (as diffusers stores them). The scale of each layer
    is alpha / r, alpha being (in order) a ``<module>.alpha`` tensor in the file, the component's
    ``alpha_pattern``/``lora_alpha``, else r -- the same default diffusers' `load_lora_weights` uses.
    """
    grouped: dict[tuple[str, str], dict[str, tuple[str, torch.Tensor]]] = {}
    for key, tensor in state_dict.items():
        if not isinstance(tensor, torch.Tensor):
            raise ValueError(f"LoRA key {key!r} is not a tensor")
        component, module, role = _split_key(key)
        if role in grouped.setdefault((component, module), {}):
            raise ValueError(f"duplicate LoRA key {key!r} (another key maps to the same {role} of {module!r})")
        grouped[(component, module)][role] = (key, tensor)
    if not grouped:
        raise ValueError(f"adapter {adapter_id or source or ''!r} has no LoRA keys")
    by_component: dict[str, dict[str, LoraLayerWeights]] = {}
    for (component, module), parts in grouped.items():
        if "A" not in parts or "B" not in parts:
            key = next(iter(parts.values()))[0]
            missing = "down/lora_A" if "A" not in parts else "up/lora_B"
            raise ValueError(f"LoRA key {key!r} has no matching {missing} weight")
        (a_key, a), (b_key, b) = parts["A"], parts["B"]
        if a.ndim != 2 or b.ndim != 2:
            raise ValueError(
                f"LoRA key {a_key if a.ndim != 2 else b_key!r} is not a 2-D Linear weight "
                f"(shape {tuple(a.shape if a.ndim != 2 else b.shape)}); only Linear LoRA is supported"
            )
        rank = a.shape[0]
        if b.shape[1] != rank:
            raise ValueError(
                f"LoRA key {b_key!r} has shape {tuple(b.shape)}, rank {b.shape[1]} != rank {rank} of {a_key!r}"
            )
        if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
            raise ValueError(f"LoRA key {a_key!r} or {b_key!r} holds non-finite values")
        if "alpha" in parts:
            alpha = float(parts["alpha"][1].float().reshape(-1)[0])
        else:
            alpha = _alpha_from_metadata((metadata or {}).get(component), module, rank)
        by_component.setdefault(component, {})[module] = LoraLayerWeights(
            a.detach().to("cpu").contiguous(), b.detach().to("cpu").contiguous(), alpha / rank, (a_key, b_key)
        )
    unet_layers = by_component.pop(UNET, {})
    return ParsedAdapter(unet_layers, adapter_id=adapter_id, source=source, text_layers=by_component)


def load_adapter_file(path: str | Path, adapter_id: str | None = None) -> ParsedAdapter:
    """Read a ``.safetensors`` LoRA file (or a folder holding one) into host RAM; ValueError if unreadable."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if len(files) != 1:
            raise ValueError(f"expected one .safetensors LoRA file in {path}, found {len(files)}")
        path = files[0]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read LoRA file {str(path)!r}: {exc}") from exc
    return load_adapter_bytes(data, adapter_id=adapter_id, source=str(path))


def load_adapter_bytes(data: bytes, adapter_id: str | None = None, source: str = "") -> ParsedAdapter:
    """Parse a ``.safetensors`` LoRA file's bytes (as read from the blob store: no copy on disk); ValueError if
    they are not one."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    label = source or adapter_id or "adapter"
    try:
        state_dict = load(data)
        header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")]).get("__metadata__") or {}
    except (SafetensorError, RuntimeError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read LoRA file {label!r}: {exc}") from exc
    metadata: dict[str, dict[str, Any]] = {}
    if LORA_METADATA_KEY in header:
        try:
            raw = json.loads(header[LORA_METADATA_KEY])
        except json.JSONDecodeError as exc:
            raise ValueError(f"LoRA file {label!r} has corrupt {LORA_METADATA_KEY}: {exc}") from exc
        # diffusers stores each component's LoraConfig as "<component>.<field>"; an unprefixed one is the UNet's.
        for key, value in raw.items():
            component, dot, field_name = key.partition(".")
            if dot and component in COMPONENTS:
                metadata.setdefault(component, {})[field_name] = value
            else:
                metadata.setdefault(UNET, {})[key] = value
    return parse_lora_state_dict(state_dict, metadata, adapter_id=adapter_id, source=label)

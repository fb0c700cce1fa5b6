"""Reading an adapter file into host RAM: the LoRA layers of a diffusers- or peft-format safetensors file.

What an adapter is (target modules, file name, metadata) is `headshots_common.adapter_format`; this
module turns such a file into per-layer (A, B, scale) CPU tensors and refuses anything it cannot
serve exactly, with a ValueError naming the offending key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from headshots_common.adapter_format import LORA_METADATA_KEY, UNET

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
# The UNet component's key prefix in diffusers' files, and the prefix of a bare peft state dict.
_PREFIXES: tuple[str, ...] = (f"{UNET}.", "base_model.model.")


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
    """An adapter's layers keyed by UNet module name (e.g. ``down_blocks.1....attn1.to_q``)."""

    layers: dict[str, LoraLayerWeights]
    adapter_id: str | None = None
    source: str | None = None

    @property
    def max_rank(self) -> int:
        return max((w.rank for w in self.layers.values()), default=0)

    @property
    def nbytes(self) -> int:
        return sum(w.A.numel() * w.A.element_size() + w.B.numel() * w.B.element_size()
                   for w in self.layers.values())


def _split_key(key: str) -> tuple[str, str]:
    name = key
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    for suffix, role in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)], role
    raise ValueError(f"unsupported LoRA key {key!r}: expected UNet keys ending in "
                     f"{', '.join(s for s, _ in _SUFFIXES)}")


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


def parse_lora_state_dict(state_dict: Mapping[str, torch.Tensor], metadata: Mapping[str, Any] | None = None,
                          *, adapter_id: str | None = None, source: str | None = None) -> ParsedAdapter:
    """Group a diffusers- or peft-format UNet LoRA state dict by module; ValueError naming the key.

    The scale of each layer is alpha / r, alpha being (in order) a ``<module>.alpha`` tensor in
    the file, the ``alpha_pattern``/``lora_alpha`` of the file's adapter metadata, else r --
    the same default diffusers' `load_lora_weights` uses.
    """
    grouped: dict[str, dict[str, tuple[str, torch.Tensor]]] = {}
    for key, tensor in state_dict.items():
        if not isinstance(tensor, torch.Tensor):
            raise ValueError(f"LoRA key {key!r} is not a tensor")
        module, role = _split_key(key)
        if role in grouped.setdefault(module, {}):
            raise ValueError(f"duplicate LoRA key {key!r} (another key maps to the same {role} of {module!r})")
        grouped[module][role] = (key, tensor)
    if not grouped:
        raise ValueError(f"adapter {adapter_id or source or ''!r} has no LoRA keys")
    layers: dict[str, LoraLayerWeights] = {}
    for module, parts in grouped.items():
        if "A" not in parts or "B" not in parts:
            key = next(iter(parts.values()))[0]
            missing = "down/lora_A" if "A" not in parts else "up/lora_B"
            raise ValueError(f"LoRA key {key!r} has no matching {missing} weight")
        (a_key, a), (b_key, b) = parts["A"], parts["B"]
        if a.ndim != 2 or b.ndim != 2:
            raise ValueError(f"LoRA key {a_key if a.ndim != 2 else b_key!r} is not a 2-D Linear weight "
                             f"(shape {tuple(a.shape if a.ndim != 2 else b.shape)}); only Linear LoRA is supported")
        rank = a.shape[0]
        if b.shape[1] != rank:
            raise ValueError(f"LoRA key {b_key!r} has shape {tuple(b.shape)}, rank {b.shape[1]} "
                             f"!= rank {rank} of {a_key!r}")
        if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
            raise ValueError(f"LoRA key {a_key!r} or {b_key!r} holds non-finite values")
        if "alpha" in parts:
            alpha = float(parts["alpha"][1].float().reshape(-1)[0])
        else:
            alpha = _alpha_from_metadata(metadata, module, rank)
        layers[module] = LoraLayerWeights(a.detach().to("cpu").contiguous(), b.detach().to("cpu").contiguous(),
                                          alpha / rank, (a_key, b_key))
    return ParsedAdapter(layers, adapter_id=adapter_id, source=source)


def load_adapter_file(path: str | Path, adapter_id: str | None = None) -> ParsedAdapter:
    """Read a ``.safetensors`` LoRA file (or a folder holding one) into host RAM; ValueError if unreadable."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if len(files) != 1:
            raise ValueError(f"expected one .safetensors LoRA file in {path}, found {len(files)}")
        path = files[0]
    try:
        state_dict = load_file(str(path), device="cpu")
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise ValueError(f"cannot read LoRA file {str(path)!r}: {exc}") from exc
    metadata = None
    if LORA_METADATA_KEY in header:
        try:
            raw = json.loads(header[LORA_METADATA_KEY])
        except json.JSONDecodeError as exc:
            raise ValueError(f"LoRA file {str(path)!r} has corrupt {LORA_METADATA_KEY}: {exc}") from exc
        # diffusers stores the UNet's LoraConfig under "unet.<field>".
        metadata = {k[len(f"{UNET}."):]: v for k, v in raw.items() if k.startswith(f"{UNET}.")} or raw
    return parse_lora_state_dict(state_dict, metadata, adapter_id=adapter_id, source=str(path))


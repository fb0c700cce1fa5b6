"""Many users' LoRA adapters in ONE batched UNet forward pass (issue #4).

Today the renderer loads one adapter per call with diffusers' `load_lora_weights`, which
rebuilds peft modules on the shared UNet and serialises tenants. This module instead keeps
a fixed *bank* of adapter slots on the device and lets every sample of a batch pick its own
slot:

* `AdapterBank` -- for every LoRA-targeted `nn.Linear` of the UNet a stacked weight bank
  ``A[num_slots+1, r_max, in]``, ``B[num_slots+1, out, r_max]`` and ``scale[num_slots+1]``.
  Slot 0 is "no adapter" and stays all zeros. Ranks below ``r_max`` are zero-padded, which is
  exact: the padded rows of A / columns of B contribute nothing. Loading an adapter into a
  slot is a tensor copy (``A[slot, :r].copy_(...)``), never a module rebuild, and it is
  validated completely before the slot is touched, so a bad file leaves the slot as it was.
* `MixedLoraLinear` -- wraps a base `nn.Linear`:
  ``y = base(x) + scale[idx] * ((x @ A[idx]^T) @ B[idx]^T)`` per sample, as two `torch.bmm`
  gathered by the per-sample slot indices set with `AdapterBank.set_batch_slots`.
  With every sample on slot 0 (or no batch set) the LoRA term is skipped entirely.
* `install_mixed_lora(unet, bank)` / `uninstall_mixed_lora(unet)` -- swap the targeted
  Linear modules in place (module names line up with the adapter keys).
* ``with bank.reuse_text_projections():`` -- for one pipeline call, the cross-attention key and
  value projections (to_k / to_v of attention layers that attend to the text) are computed at
  the first denoising step and reused at every later one: they depend only on the prompt
  embeddings and the batch's adapters, and neither changes between steps. Exact (the same
  tensors), and it removes the largest projections of a small-latent UNet from every step after
  the first.
* `AdapterCache` -- LRU host-RAM tier of parsed adapters (CPU tensors), hit/miss counters.
* `SlotAllocator` -- adapter id -> device slot, LRU eviction among slots not pinned by the
  running batch.
* `MixedLoraManager` -- the two tiers plus the bank: ``with manager.batch([...ids...]):``
  then call the pipeline once for all tenants; ``manager.evict(adapter_id)`` for deletion.

Classifier-free guidance: diffusers' StableDiffusionPipeline builds its UNet batch as
``torch.cat([negative_prompt_embeds, prompt_embeds])`` where each prompt's
``num_images_per_prompt`` images are consecutive, i.e. the UNet sees
``[uncond_0 .. uncond_{n-1}, cond_0 .. cond_{n-1}]``. Per-prompt slot indices therefore become
``slots.repeat_interleave(num_images_per_prompt).repeat(2)``; `cfg_slots` does exactly that
and ``set_batch_slots(..., cfg=True)`` / ``manager.batch(..., cfg=True)`` apply it. The UNet
batch size must match the slot count exactly; a mismatch raises instead of guessing.

Limitations: UNet attention projections (nn.Linear) only -- text-encoder LoRA keys,
conv LoRA, DoRA are rejected with a ValueError naming the key. The bank lives on the device
and dtype given at construction; install it after moving the UNet (``unet.to()`` does not
move the bank).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

LORA_TARGET_MODULES: tuple[str, ...] = ("to_k", "to_q", "to_v", "to_out.0")

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
_PREFIXES: tuple[str, ...] = ("unet.", "base_model.model.")
_METADATA_KEY = "lora_adapter_metadata"  # diffusers.loaders.lora_base.LORA_ADAPTER_METADATA_KEY


# ---------------------------------------------------------------------------------------
# Parsed adapters (host RAM)
# ---------------------------------------------------------------------------------------

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
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from safetensors import safe_open

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
    if _METADATA_KEY in header:
        try:
            raw = json.loads(header[_METADATA_KEY])
        except json.JSONDecodeError as exc:
            raise ValueError(f"LoRA file {str(path)!r} has corrupt {_METADATA_KEY}: {exc}") from exc
        # diffusers stores the UNet's LoraConfig under "unet.<field>".
        metadata = {k[len("unet."):]: v for k, v in raw.items() if k.startswith("unet.")} or raw
    return parse_lora_state_dict(state_dict, metadata, adapter_id=adapter_id, source=str(path))


# ---------------------------------------------------------------------------------------
# Device tier: the bank
# ---------------------------------------------------------------------------------------

class LayerBank:
    """Stacked weights of one targeted Linear: A [S+1, r_max, in], B [S+1, out, r_max], scale [S+1]."""

    def __init__(self, name: str, in_features: int, out_features: int, num_slots: int, r_max: int,
                 device: torch.device, dtype: torch.dtype):
        self.name, self.in_features, self.out_features = name, in_features, out_features
        self.A = torch.zeros(num_slots + 1, r_max, in_features, device=device, dtype=dtype)
        self.B = torch.zeros(num_slots + 1, out_features, r_max, device=device, dtype=dtype)
        self.scale = torch.zeros(num_slots + 1, device=device, dtype=torch.float32)
        self.ranks = [0] * (num_slots + 1)  # host copy: real rank per slot (0 = empty)
        # The running batch's (Aᵀ [n, in, r], scale·Bᵀ [n, r, out]), or None: set by the bank, read by the forward.
        self.batch_weights: tuple[torch.Tensor, torch.Tensor] | None = None


class TextProjection(NamedTuple):
    """A cross-attention K/V projection and what it was computed from (tensor `_version`s count in-place writes)."""

    input: torch.Tensor
    input_version: int
    bank_version: int
    output: torch.Tensor
    output_version: int

    def still_valid_for(self, x: torch.Tensor, bank_version: int) -> bool:
        return (self.input is x and self.input_version == x._version and self.bank_version == bank_version
                and self.output_version == self.output._version)


class AdapterBank:
    """The device tier: `num_slots` adapter slots (1..num_slots) plus slot 0 = no adapter."""

    def __init__(self, layer_shapes: Mapping[str, tuple[int, int]], num_slots: int, r_max: int,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32, *,
                 static_rank: bool = False):
        """`static_rank`: gather every batch at rank r_max instead of the batch's highest rank, so the
        per-batch tensors keep one shape (for torch.compile: no recompilation per adapter mix)."""
        if num_slots < 1 or r_max < 1:
            raise ValueError("num_slots and r_max must be >= 1")
        if not layer_shapes:
            raise ValueError("no LoRA-targeted Linear layers given")
        self.num_slots, self.r_max, self.static_rank = num_slots, r_max, static_rank
        self.device, self.dtype = torch.device(device), dtype
        self.layers: dict[str, LayerBank] = {
            name: LayerBank(name, fin, fout, num_slots, r_max, self.device, dtype)
            for name, (fin, fout) in layer_shapes.items()}
        self.slot_adapter: list[str | None] = [None] * (num_slots + 1)
        self._version = 0
        self._slots: torch.Tensor | None = None        # per-sample slot indices, on device
        self._slots_host: list[int] = []
        self._multipliers: torch.Tensor | None = None   # per-sample extra scale, on device
        # layer name -> its reusable projection, while `reuse_text_projections` is active.
        self.text_projections: dict[str, TextProjection] | None = None

    @classmethod
    def from_unet(cls, unet: nn.Module, num_slots: int, r_max: int,
                  target_modules: Sequence[str] = LORA_TARGET_MODULES,
                  device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                  static_rank: bool = False) -> "AdapterBank":
        """A bank for every nn.Linear of `unet` whose name is, or ends with, a target module name."""
        shapes: dict[str, tuple[int, int]] = {}
        first: torch.Tensor | None = None
        for name, module in unet.named_modules():
            if not any(name == t or name.endswith("." + t) for t in target_modules):
                continue
            if isinstance(module, MixedLoraLinear):
                module = module.base
            elif isinstance(getattr(module, "base_layer", None), nn.Linear):
                raise ValueError(f"{name!r} carries a peft LoRA wrapper: call pipe.unload_lora_weights() "
                                 f"before building the bank")
            if isinstance(module, nn.Linear):
                shapes[name] = (module.in_features, module.out_features)
                first = module.weight if first is None else first
        if first is None:
            raise ValueError(f"no nn.Linear in the UNet matches {list(target_modules)}")
        return cls(shapes, num_slots, r_max, device or first.device, dtype or first.dtype, static_rank=static_rank)

    # -- loading ---------------------------------------------------------------------------

    def _check_slot(self, slot: int) -> None:
        if not 1 <= slot <= self.num_slots:
            raise ValueError(f"slot {slot} out of range 1..{self.num_slots} (slot 0 is 'no adapter')")

    def validate(self, adapter: ParsedAdapter) -> None:
        """ValueError naming the first layer that does not fit this bank; touches nothing."""
        label = adapter.adapter_id or adapter.source or "adapter"
        for name, w in adapter.layers.items():
            layer = self.layers.get(name)
            if layer is None:
                raise ValueError(f"{label}: LoRA key {w.keys[0]!r} (module {name!r}) matches no LoRA-targeted "
                                 f"Linear of the UNet")
            if w.A.shape[1] != layer.in_features:
                raise ValueError(f"{label}: LoRA key {w.keys[0]!r} has shape {tuple(w.A.shape)}, the layer "
                                 f"takes {layer.in_features} features")
            if w.B.shape[0] != layer.out_features:
                raise ValueError(f"{label}: LoRA key {w.keys[1]!r} has shape {tuple(w.B.shape)}, the layer "
                                 f"gives {layer.out_features} features")
            if w.rank > self.r_max:
                raise ValueError(f"{label}: LoRA key {w.keys[0]!r} has rank {w.rank} > the bank's r_max {self.r_max}")

    @torch.no_grad()
    def load(self, slot: int, adapter: ParsedAdapter, multiplier: float = 1.0) -> None:
        """Copy `adapter` into `slot` (in place; no module or tensor is replaced).

        Everything is validated and staged on the device first, so a bad adapter raises
        ValueError and leaves the slot (and every other slot) as it was.
        """
        self._check_slot(slot)
        self.validate(adapter)
        staged = {name: (w.A.to(self.device, self.dtype, non_blocking=True),
                         w.B.to(self.device, self.dtype, non_blocking=True), w.scale * multiplier)
                  for name, w in adapter.layers.items()}
        for name, layer in self.layers.items():
            layer.A[slot].zero_()
            layer.B[slot].zero_()
            if name in staged:
                a, b, scale = staged[name]
                r = a.shape[0]
                layer.A[slot, :r].copy_(a)
                layer.B[slot, :, :r].copy_(b)
                layer.scale[slot] = scale
                layer.ranks[slot] = r
            else:
                layer.scale[slot] = 0.0
                layer.ranks[slot] = 0
        self.slot_adapter[slot] = adapter.adapter_id
        self._version += 1
        self._refresh_batch_weights()

    @torch.no_grad()
    def clear(self, slot: int) -> None:
        """Zero a slot."""
        self._check_slot(slot)
        for layer in self.layers.values():
            layer.A[slot].zero_()
            layer.B[slot].zero_()
            layer.scale[slot] = 0.0
            layer.ranks[slot] = 0
        self.slot_adapter[slot] = None
        self._version += 1
        self._refresh_batch_weights()

    # -- the running batch -------------------------------------------------------------------

    def set_batch_slots(self, slots: torch.Tensor | Sequence[int], multipliers: Sequence[float] | torch.Tensor | None = None,
                        *, cfg: bool = False, num_images_per_prompt: int = 1) -> torch.Tensor:
        """Per-sample slot indices (and optional per-sample LoRA multipliers) for the next forwards.

        `slots` has one entry per prompt; with ``cfg=True`` / ``num_images_per_prompt`` they are
        expanded like diffusers expands its batch (see `cfg_slots`). Returns the expanded indices.
        """
        slots = torch.as_tensor(slots, dtype=torch.long).reshape(-1).cpu()
        if slots.numel() and (int(slots.min()) < 0 or int(slots.max()) > self.num_slots):
            raise ValueError(f"slot indices must lie in 0..{self.num_slots}, got {slots.tolist()}")
        mult = None
        if multipliers is not None:
            mult = torch.as_tensor(multipliers, dtype=torch.float32).reshape(-1).cpu()
            if mult.shape != slots.shape:
                raise ValueError(f"{mult.numel()} multipliers for {slots.numel()} slots")
            mult = cfg_slots(mult, cfg, num_images_per_prompt)
        slots = cfg_slots(slots, cfg, num_images_per_prompt)
        self._slots_host = slots.tolist()
        self._slots = slots.to(self.device)
        self._multipliers = None if mult is None else mult.to(self.device)
        self._version += 1
        self._refresh_batch_weights()
        return slots

    def clear_batch(self) -> None:
        self._slots, self._slots_host, self._multipliers = None, [], None
        self._version += 1
        self._refresh_batch_weights()

    @contextmanager
    def batch_slots(self, slots, multipliers=None, *, cfg: bool = False, num_images_per_prompt: int = 1):
        self.set_batch_slots(slots, multipliers, cfg=cfg, num_images_per_prompt=num_images_per_prompt)
        try:
            yield self._slots
        finally:
            self.clear_batch()

    @contextmanager
    def reuse_text_projections(self) -> Iterator[None]:
        """Within one pipeline call, compute each cross-attention K/V projection once (see the module doc).

        A projection is reused only for the very same input tensor (same object, not modified in
        place) under the same slot assignment, so a new prompt batch or adapter mix recomputes it.
        Not for a compiled UNet: the identity check is Python-side state that graphs cannot carry.
        """
        self.text_projections = {}
        try:
            yield
        finally:
            self.text_projections = None

    @property
    def active(self) -> bool:
        """Whether any sample of the current batch uses an adapter (else the fast path runs)."""
        return any(self._slots_host)

    @torch.no_grad()
    def _refresh_batch_weights(self) -> None:
        """Gather every layer's (Aᵀ [n, in, r], scale·Bᵀ [n, r, out]) for the current batch, once.

        Transposed, contiguous and pre-scaled once per batch (and again only if a slot changes
        under it), so every denoising step runs exactly two batched matrix products per layer
        and no elementwise pass. The forward reads only these tensors -- no Python-side state
        that changes per batch -- so a compiled UNet does not recompile for a new adapter mix
        (with `static_rank`, r is always r_max; else r is the batch's highest rank).
        """
        active = self.active
        for layer in self.layers.values():
            if not active:
                layer.batch_weights = None
                continue
            r_eff = self.r_max if self.static_rank else max(layer.ranks[s] for s in self._slots_host)
            if r_eff == 0 or not any(layer.ranks[s] for s in self._slots_host):
                layer.batch_weights = None
                continue
            idx = self._slots
            scale = layer.scale.index_select(0, idx)
            if self._multipliers is not None:
                scale = scale * self._multipliers
            a = layer.A[:, :r_eff].index_select(0, idx)                       # [n, r, in]
            b = layer.B[:, :, :r_eff].index_select(0, idx)                    # [n, out, r]
            layer.batch_weights = (a.transpose(1, 2).contiguous(),
                                   (b * scale.to(b.dtype).view(-1, 1, 1)).transpose(1, 2).contiguous())

    def _gathered(self, name: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The current batch's gathered weights of one layer (None: the LoRA term is skipped)."""
        return self.layers[name].batch_weights

    @property
    def nbytes(self) -> int:
        return sum(l.A.numel() * l.A.element_size() + l.B.numel() * l.B.element_size()
                   for l in self.layers.values())


def cfg_slots(slots: torch.Tensor, do_classifier_free_guidance: bool = True,
              num_images_per_prompt: int = 1) -> torch.Tensor:
    """Per-prompt values -> per-UNet-sample values, in diffusers' batch order.

    StableDiffusionPipeline repeats each prompt's embeddings `num_images_per_prompt` times
    consecutively, then concatenates ``[negative, positive]`` for classifier-free guidance, so
    the UNet batch is ``[uncond_0..uncond_{n-1}, cond_0..cond_{n-1}]``: both halves carry the
    same adapter (the unconditional branch of a tenant must use the tenant's adapter too,
    exactly as a single-adapter render does).
    """
    slots = torch.as_tensor(slots)
    if num_images_per_prompt > 1:
        slots = slots.repeat_interleave(num_images_per_prompt)
    return slots.repeat(2) if do_classifier_free_guidance else slots


# ---------------------------------------------------------------------------------------
# The module and its installation
# ---------------------------------------------------------------------------------------

class MixedLoraLinear(nn.Module):
    """``base(x) + scale[idx] * ((x @ A[idx]^T) @ B[idx]^T)`` with a per-sample slot index.

    Dim 0 of `x` is the batch; any further leading dims (tokens) are flattened. The bank's
    slot indices must have exactly one entry per sample.
    """

    def __init__(self, base: nn.Linear, bank: AdapterBank, name: str, text_projection: bool = False):
        super().__init__()
        self.base = base
        self.name = name
        # A cross-attention to_k / to_v: its input is the prompt embeddings, the same at every step.
        self.text_projection = text_projection
        object.__setattr__(self, "bank", bank)  # not a submodule: stays out of state_dict / .to()
        object.__setattr__(self, "layer_bank", bank.layers[name])

    @property
    def weight(self) -> torch.Tensor:  # some diffusers code inspects .weight (dtype/device)
        return self.base.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base.bias

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        memo = self.bank.text_projections if self.text_projection else None
        if memo is None:
            return self._project(x)
        hit = memo.get(self.name)
        if hit is not None and hit.still_valid_for(x, self.bank._version):
            return hit.output
        out = self._project(x)
        memo[self.name] = TextProjection(x, x._version, self.bank._version, out, out._version)
        return out

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        gathered = self.layer_bank.batch_weights  # a plain attribute: compile-friendly, no graph break
        if gathered is None:
            return out
        a_t, b_t = gathered
        n = x.shape[0]
        if n != a_t.shape[0]:
            raise RuntimeError(f"{self.name}: batch of {n} samples but {a_t.shape[0]} slot indices were set "
                               f"(with classifier-free guidance use set_batch_slots(..., cfg=True))")
        h = torch.bmm(x.reshape(n, -1, x.shape[-1]).to(a_t.dtype), a_t)    # [n, T, r]
        out3 = out.view(n, -1, out.shape[-1])
        if out3.dtype == b_t.dtype and not torch.is_grad_enabled():
            out3.baddbmm_(h, b_t)  # inference: add the LoRA term in place, no extra [n, T, out] buffer
            return out
        return (out3 + torch.bmm(h, b_t).to(out.dtype)).view(out.shape)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, slots={self.bank.num_slots}, r_max={self.bank.r_max}"


def install_mixed_lora(unet: nn.Module, bank: AdapterBank) -> AdapterBank:
    """Replace each banked nn.Linear of `unet` in place by a `MixedLoraLinear`; returns `bank`."""
    for name in bank.layers:
        parent_name, _, child = name.rpartition(".")
        parent = unet.get_submodule(parent_name) if parent_name else unet
        module = parent._modules.get(child)
        if isinstance(module, MixedLoraLinear):
            module = module.base
        if not isinstance(module, nn.Linear):
            raise ValueError(f"{name!r} is {type(module).__name__}, not nn.Linear "
                             f"(unload diffusers/peft LoRA adapters before installing the bank)")
        layer = bank.layers[name]
        if (module.in_features, module.out_features) != (layer.in_features, layer.out_features):
            raise ValueError(f"{name!r} is {module.in_features}->{module.out_features}, the bank expects "
                             f"{layer.in_features}->{layer.out_features}")
        # diffusers' Attention marks layers whose keys/values come from the text (attn2 of SD/SDXL blocks).
        text_projection = child in ("to_k", "to_v") and bool(getattr(parent, "is_cross_attention", False))
        parent._modules[child] = MixedLoraLinear(module, bank, name, text_projection)
    return bank


def uninstall_mixed_lora(unet: nn.Module) -> None:
    """Put the original nn.Linear modules back."""
    for name, module in list(unet.named_modules()):
        if isinstance(module, MixedLoraLinear):
            parent_name, _, child = name.rpartition(".")
            parent = unet.get_submodule(parent_name) if parent_name else unet
            parent._modules[child] = module.base


# ---------------------------------------------------------------------------------------
# Host tier and slot allocation
# ---------------------------------------------------------------------------------------

class AdapterCache:
    """LRU of parsed adapters (CPU tensors) by adapter id, `capacity` entries."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._items: OrderedDict[str, ParsedAdapter] = OrderedDict()
        self.hits = self.misses = self.evictions = 0

    def get(self, adapter_id: str, loader: Callable[[], ParsedAdapter] | None = None) -> ParsedAdapter | None:
        """The cached adapter (a hit), else `loader()` cached and returned (a miss), else None."""
        if adapter_id in self._items:
            self._items.move_to_end(adapter_id)
            self.hits += 1
            return self._items[adapter_id]
        self.misses += 1
        if loader is None:
            return None
        adapter = loader()  # may raise: nothing is cached then
        self.put(adapter_id, adapter)
        return adapter

    def put(self, adapter_id: str, adapter: ParsedAdapter) -> None:
        self._items[adapter_id] = adapter
        self._items.move_to_end(adapter_id)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
            self.evictions += 1

    def pop(self, adapter_id: str) -> ParsedAdapter | None:
        return self._items.pop(adapter_id, None)

    def __contains__(self, adapter_id: object) -> bool:
        return adapter_id in self._items

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[str]:
        return list(self._items)

    @property
    def stats(self) -> dict[str, int]:
        return dict(size=len(self._items), capacity=self.capacity, hits=self.hits, misses=self.misses,
                    evictions=self.evictions)


class SlotAllocator:
    """adapter id -> slot 1..num_slots, evicting the least recently used unpinned slot."""

    def __init__(self, num_slots: int):
        self.num_slots = num_slots
        self._by_id: OrderedDict[str, int] = OrderedDict()  # LRU order, oldest first
        self._free: list[int] = list(range(num_slots, 0, -1))
        self._pins: dict[str, int] = {}
        self.hits = self.misses = self.evictions = 0

    def lookup(self, adapter_id: str) -> int | None:
        return self._by_id.get(adapter_id)

    def acquire(self, adapter_id: str, pinned: Iterable[str] = ()) -> tuple[int, bool, str | None]:
        """(slot, needs_load, evicted adapter id or None). RuntimeError when every slot is pinned."""
        if adapter_id in self._by_id:
            self._by_id.move_to_end(adapter_id)
            self.hits += 1
            return self._by_id[adapter_id], False, None
        self.misses += 1
        if self._free:
            slot = self._free.pop()
            self._by_id[adapter_id] = slot
            return slot, True, None
        keep = set(pinned) | {k for k, n in self._pins.items() if n > 0}
        for victim, slot in self._by_id.items():
            if victim not in keep:
                del self._by_id[victim]
                self._by_id[adapter_id] = slot
                self.evictions += 1
                return slot, True, victim
        raise RuntimeError(f"all {self.num_slots} adapter slots are pinned by the running batch")

    def can_acquire(self, adapter_id: str, pinned: Iterable[str] = ()) -> bool:
        if adapter_id in self._by_id or self._free:
            return True
        keep = set(pinned) | {k for k, n in self._pins.items() if n > 0}
        return any(victim not in keep for victim in self._by_id)

    def release(self, adapter_id: str) -> int | None:
        """Forget an adapter; its slot becomes free (the caller zeroes it)."""
        slot = self._by_id.pop(adapter_id, None)
        self._pins.pop(adapter_id, None)
        if slot is not None:
            self._free.append(slot)
        return slot

    def pin(self, adapter_ids: Iterable[str]) -> None:
        for a in adapter_ids:
            self._pins[a] = self._pins.get(a, 0) + 1

    def unpin(self, adapter_ids: Iterable[str]) -> None:
        for a in adapter_ids:
            if self._pins.get(a, 0) > 1:
                self._pins[a] -= 1
            else:
                self._pins.pop(a, None)

    def resident(self) -> dict[str, int]:
        return dict(self._by_id)


@dataclass
class MixedLoraManager:
    """Host cache + slot allocator + device bank. Thread-safe for slot bookkeeping.

    `resolve(adapter_id)` gives the adapter's file path (default: the id is the path).
    """

    bank: AdapterBank
    cache_capacity: int = 64
    resolve: Callable[[str], str | Path] | None = None
    cache: AdapterCache = field(init=False)
    slots: SlotAllocator = field(init=False)

    def __post_init__(self) -> None:
        self.cache = AdapterCache(self.cache_capacity)
        self.slots = SlotAllocator(self.bank.num_slots)
        self.file_loads = 0  # cold loads: blob/file -> host RAM
        self._lock = threading.RLock()

    def _load_file(self, adapter_id: str) -> ParsedAdapter:
        path = self.resolve(adapter_id) if self.resolve else adapter_id
        adapter = load_adapter_file(path, adapter_id=adapter_id)
        self.bank.validate(adapter)  # fail before it is cached or takes a slot
        self.file_loads += 1
        return adapter

    def _parsed(self, adapter_id: str) -> ParsedAdapter:
        return self.cache.get(adapter_id, lambda: self._load_file(adapter_id))

    def prefetch(self, adapter_id: str) -> bool:
        """Make sure the adapter is in a slot or host RAM; True if it already was.

        The file is read and validated WITHOUT holding the manager's lock, so a request's
        adapter load never delays the batch loop; a bad file raises ValueError here.
        """
        with self._lock:
            if self.slots.lookup(adapter_id) is not None or self.cache.get(adapter_id) is not None:
                return True
        adapter = self._load_file(adapter_id)
        with self._lock:
            self.cache.put(adapter_id, adapter)
        return False

    def is_loaded(self, adapter_id: str) -> bool:
        """Whether the adapter is in a device slot or in host RAM."""
        with self._lock:
            return self.slots.lookup(adapter_id) is not None or adapter_id in self.cache

    def ensure(self, adapter_id: str, pinned: Iterable[str] = ()) -> int:
        """The adapter's slot, loading it (host cache, else file) and evicting LRU if needed."""
        with self._lock:
            slot = self.slots.lookup(adapter_id)
            if slot is not None:
                self.slots.acquire(adapter_id)  # refresh LRU
                return slot
            if not self.slots.can_acquire(adapter_id, pinned):
                raise RuntimeError(f"all {self.bank.num_slots} adapter slots are pinned by the running batch")
            adapter = self._parsed(adapter_id)  # ValueError here leaves every slot untouched
            slot, _, _ = self.slots.acquire(adapter_id, pinned)
            try:
                self.bank.load(slot, adapter)
            except Exception:
                self.slots.release(adapter_id)
                self.bank.clear(slot)
                raise
            return slot

    @contextmanager
    def batch(self, adapter_ids: Sequence[str | None], multipliers: Sequence[float] | None = None, *,
              cfg: bool = True, num_images_per_prompt: int = 1) -> Iterator[torch.Tensor]:
        """One UNet batch: per-prompt adapter ids (None = base model), pinned for its duration."""
        ids = [a for a in adapter_ids if a]
        with self._lock:
            self.slots.pin(ids)
            try:
                slots = [self.ensure(a, pinned=ids) if a else 0 for a in adapter_ids]
            except BaseException:
                self.slots.unpin(ids)
                raise
        try:
            with self.bank.batch_slots(slots, multipliers, cfg=cfg, num_images_per_prompt=num_images_per_prompt) as s:
                yield s
        finally:
            with self._lock:
                self.slots.unpin(ids)

    def evict(self, adapter_id: str) -> bool:
        """Forget an adapter in both tiers and zero its slot (e.g. when a user deletes it); True if it was there."""
        with self._lock:
            cached = self.cache.pop(adapter_id) is not None
            slot = self.slots.release(adapter_id)
            if slot is not None:
                self.bank.clear(slot)
            return cached or slot is not None

    @property
    def stats(self) -> dict[str, Any]:
        return dict(cache=self.cache.stats, slot_hits=self.slots.hits, slot_misses=self.slots.misses,
                    slot_evictions=self.slots.evictions, resident=self.slots.resident(), file_loads=self.file_loads)

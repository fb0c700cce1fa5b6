"""The device tier: every LoRA-targeted linear layer of a component (the UNet, a text encoder) gets a bank of slots.

For each targeted `nn.Linear` a stacked ``A[slots+1, r_max, in]``, ``B[slots+1, out, r_max]`` and
``scale[slots+1]``; slot 0 is "no adapter" and stays zero. Every sample of a batch picks its own slot,
so ONE denoising pass serves many people's adapters (docs/renderer.md explains the design).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from headshots_common.adapter_format import TEXT_ENCODER_TARGET_MODULES, UNET, UNET_TARGET_MODULES
from renderer.lora.adapter_file import ParsedAdapter
from renderer.lora.layers import MixedLoraLinear, TextProjection

# CLIP text models name their layers "text_model.encoder..." or "encoder..." depending on the model class and the
# transformers version that wrote the file; the same layer either way.
_TEXT_MODEL_PREFIX = "text_model."


class LayerBank:
    """Stacked weights of one targeted Linear: A [S+1, r_max, in], B [S+1, out, r_max], scale [S+1]."""

    def __init__(
        self,
        name: str,
        in_features: int,
        out_features: int,
        num_slots: int,
        r_max: int,
        device: torch.device,
        dtype: torch.dtype,
    ):
        self.name, self.in_features, self.out_features = name, in_features, out_features
        self.A = torch.zeros(num_slots + 1, r_max, in_features, device=device, dtype=dtype)
        self.B = torch.zeros(num_slots + 1, out_features, r_max, device=device, dtype=dtype)
        self.scale = torch.zeros(num_slots + 1, device=device, dtype=torch.float32)
        self.ranks = [0] * (num_slots + 1)  # host copy: real rank per slot (0 = empty)
        # The running batch's (Aᵀ [n, in, r], scale·Bᵀ [n, r, out]) -- or (Aᵀ [in, r], scale·Bᵀ [r, out]) when every
        # sample has the same adapter -- or None: set by the bank, read by the forward.
        self.batch_weights: tuple[torch.Tensor, torch.Tensor] | None = None


class AdapterBank:
    """One component's device tier: `num_slots` adapter slots (1..num_slots) plus slot 0 = no adapter."""

    def __init__(
        self,
        layer_shapes: Mapping[str, tuple[int, int]],
        num_slots: int,
        r_max: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        *,
        static_rank: bool = False,
        component: str = UNET,
    ):
        """`static_rank`: gather every batch at rank r_max instead of the batch's highest rank, so the
        per-batch tensors keep one shape (for torch.compile: no recompilation per adapter mix).
        `component`: which of an adapter's layer groups this bank holds (adapter_format.COMPONENTS)."""
        if num_slots < 1 or r_max < 1:
            raise ValueError("num_slots and r_max must be >= 1")
        if not layer_shapes:
            raise ValueError("no LoRA-targeted Linear layers given")
        self.num_slots, self.r_max, self.static_rank, self.component = num_slots, r_max, static_rank, component
        self.device, self.dtype = torch.device(device), dtype
        self.layers: dict[str, LayerBank] = {
            name: LayerBank(name, fin, fout, num_slots, r_max, self.device, dtype)
            for name, (fin, fout) in layer_shapes.items()
        }
        self.slot_adapter: list[str | None] = [None] * (num_slots + 1)
        # Bumped on every slot or batch change: a reused text projection is valid only under its version.
        self.version = 0
        self._slots: torch.Tensor | None = None  # per-sample slot indices, on device
        self._slots_host: list[int] = []
        self._multipliers: torch.Tensor | None = None  # per-sample extra scale, on device
        # layer name -> its reusable projection, while `reuse_text_projections` is active.
        self.text_projections: dict[str, TextProjection] | None = None

    @classmethod
    def from_unet(
        cls,
        unet: nn.Module,
        num_slots: int,
        r_max: int,
        target_modules: Sequence[str] = UNET_TARGET_MODULES,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        static_rank: bool = False,
    ) -> AdapterBank:
        """A bank for every nn.Linear of `unet` whose name is, or ends with, a target module name."""
        return cls.from_module(
            unet, num_slots, r_max, target_modules, device=device, dtype=dtype, static_rank=static_rank, component=UNET
        )

    @classmethod
    def from_text_encoder(
        cls, encoder: nn.Module, component: str, num_slots: int, r_max: int, static_rank: bool = False
    ) -> AdapterBank:
        """A bank for the attention projections of a CLIP text encoder (`component`: its pipeline attribute)."""
        return cls.from_module(
            encoder, num_slots, r_max, TEXT_ENCODER_TARGET_MODULES, static_rank=static_rank, component=component
        )

    @classmethod
    def from_module(
        cls,
        root: nn.Module,
        num_slots: int,
        r_max: int,
        target_modules: Sequence[str],
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        static_rank: bool = False,
        component: str = UNET,
    ) -> AdapterBank:
        shapes: dict[str, tuple[int, int]] = {}
        first: torch.Tensor | None = None
        for name, module in root.named_modules():
            if not any(name == t or name.endswith("." + t) for t in target_modules):
                continue
            if isinstance(module, MixedLoraLinear):
                module = module.base
            elif isinstance(getattr(module, "base_layer", None), nn.Linear):
                raise ValueError(
                    f"{name!r} carries a peft LoRA wrapper: call pipe.unload_lora_weights() before building the bank"
                )
            if isinstance(module, nn.Linear):
                shapes[name] = (module.in_features, module.out_features)
                first = module.weight if first is None else first
        if first is None:
            raise ValueError(f"no nn.Linear in the {component} matches {list(target_modules)}")
        return cls(
            shapes,
            num_slots,
            r_max,
            device or first.device,
            dtype or first.dtype,
            static_rank=static_rank,
            component=component,
        )

    # -- loading ---------------------------------------------------------------------------

    def layer_name(self, name: str) -> str | None:
        """This bank's name for an adapter's layer, or None when it has no such layer."""
        if name in self.layers:
            return name
        if self.component != UNET:
            for alias in (_TEXT_MODEL_PREFIX + name, name.removeprefix(_TEXT_MODEL_PREFIX)):
                if alias in self.layers:
                    return alias
        return None

    def _check_slot(self, slot: int) -> None:
        if not 1 <= slot <= self.num_slots:
            raise ValueError(f"slot {slot} out of range 1..{self.num_slots} (slot 0 is 'no adapter')")

    def validate(self, adapter: ParsedAdapter) -> None:
        """ValueError naming the first layer that does not fit this bank; touches nothing."""
        label = adapter.adapter_id or adapter.source or "adapter"
        for name, w in adapter.layers_of(self.component).items():
            layer = self.layers.get(self.layer_name(name) or "")
            if layer is None:
                raise ValueError(
                    f"{label}: LoRA key {w.keys[0]!r} (module {name!r}) matches no LoRA-targeted "
                    f"Linear of the {self.component}"
                )
            if w.A.shape[1] != layer.in_features:
                raise ValueError(
                    f"{label}: LoRA key {w.keys[0]!r} has shape {tuple(w.A.shape)}, the layer "
                    f"takes {layer.in_features} features"
                )
            if w.B.shape[0] != layer.out_features:
                raise ValueError(
                    f"{label}: LoRA key {w.keys[1]!r} has shape {tuple(w.B.shape)}, the layer "
                    f"gives {layer.out_features} features"
                )
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
        staged = {
            self.layer_name(name): (
                w.A.to(self.device, self.dtype, non_blocking=True),
                w.B.to(self.device, self.dtype, non_blocking=True),
                w.scale * multiplier,
            )
            for name, w in adapter.layers_of(self.component).items()
        }
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
        self.version += 1
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
        self.version += 1
        self._refresh_batch_weights()

    # -- the running batch -------------------------------------------------------------------

    def set_batch_slots(
        self,
        slots: torch.Tensor | Sequence[int],
        multipliers: Sequence[float] | torch.Tensor | None = None,
        *,
        guidance_doubles_batch: bool = False,
        num_images_per_prompt: int = 1,
    ) -> torch.Tensor:
        """Per-sample slot indices (and optional per-sample LoRA multipliers) for the next forwards.

        `slots` has one entry per prompt; with ``guidance_doubles_batch`` (classifier-free guidance) and
        ``num_images_per_prompt`` they are expanded like diffusers expands its batch (see
        `per_unet_sample`). Returns the expanded indices.
        """
        slots = torch.as_tensor(slots, dtype=torch.long).reshape(-1).cpu()
        if slots.numel() and (int(slots.min()) < 0 or int(slots.max()) > self.num_slots):
            raise ValueError(f"slot indices must lie in 0..{self.num_slots}, got {slots.tolist()}")
        mult = None
        if multipliers is not None:
            mult = torch.as_tensor(multipliers, dtype=torch.float32).reshape(-1).cpu()
            if mult.shape != slots.shape:
                raise ValueError(f"{mult.numel()} multipliers for {slots.numel()} slots")
            mult = per_unet_sample(mult, guidance_doubles_batch, num_images_per_prompt)
        slots = per_unet_sample(slots, guidance_doubles_batch, num_images_per_prompt)
        self._slots_host = slots.tolist()
        self._slots = slots.to(self.device)
        self._multipliers = None if mult is None else mult.to(self.device)
        self.version += 1
        self._refresh_batch_weights()
        return slots

    def clear_batch(self) -> None:
        self._slots, self._slots_host, self._multipliers = None, [], None
        self.version += 1
        self._refresh_batch_weights()

    @contextmanager
    def batch_slots(
        self, slots, multipliers=None, *, guidance_doubles_batch: bool = False, num_images_per_prompt: int = 1
    ) -> Iterator[torch.Tensor | None]:
        self.set_batch_slots(
            slots,
            multipliers,
            guidance_doubles_batch=guidance_doubles_batch,
            num_images_per_prompt=num_images_per_prompt,
        )
        try:
            yield self._slots
        finally:
            self.clear_batch()

    @contextmanager
    def reuse_text_projections(self) -> Iterator[None]:
        """Within one pipeline call, compute each cross-attention K/V projection once, not once per step.

        Their input is the prompt embeddings and their weights the batch's adapters; neither changes
        between denoising steps. A projection is reused only for the very same input tensor (same
        object, not modified in place) under the same slot assignment, so a new prompt batch or
        adapter mix recomputes it. Not for a compiled UNet: the identity check is Python-side state
        that graphs cannot carry.
        """
        self.text_projections = {}
        try:
            yield
        finally:
            self.text_projections = None

    @property
    def batch_samples(self) -> int:
        """UNet (or text encoder) samples the current batch's slots were set for."""
        return len(self._slots_host)

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

        A batch whose samples all have the same adapter and multiplier (one person's pack) gets that
        adapter's weights once instead (two plain matrix products over the whole batch, as a
        single-adapter LoRA layer runs); not with `static_rank`, whose point is one shape for every mix.
        """
        active = self.active
        uniform = (
            active
            and not self.static_rank
            and len(set(self._slots_host)) == 1
            and (self._multipliers is None or bool((self._multipliers == self._multipliers[0]).all()))
        )
        for layer in self.layers.values():
            if not active:
                layer.batch_weights = None
                continue
            r_eff = self.r_max if self.static_rank else max(layer.ranks[s] for s in self._slots_host)
            if r_eff == 0 or not any(layer.ranks[s] for s in self._slots_host):
                layer.batch_weights = None
                continue
            idx = self._slots
            assert idx is not None  # an active batch has its slots on the device
            scale = layer.scale.index_select(0, idx)
            if self._multipliers is not None:
                scale = scale * self._multipliers
            if uniform:
                slot = self._slots_host[0]
                b = layer.B[slot, :, :r_eff] * scale[0].to(layer.B.dtype)
                layer.batch_weights = (layer.A[slot, :r_eff].t().contiguous(), b.t().contiguous())
                continue
            a = layer.A[:, :r_eff].index_select(0, idx)  # [n, r, in]
            b = layer.B[:, :, :r_eff].index_select(0, idx)  # [n, out, r]
            layer.batch_weights = (
                a.transpose(1, 2).contiguous(),
                (b * scale.to(b.dtype).view(-1, 1, 1)).transpose(1, 2).contiguous(),
            )

    @property
    def nbytes(self) -> int:
        return sum(
            layer.A.numel() * layer.A.element_size() + layer.B.numel() * layer.B.element_size()
            for layer in self.layers.values()
        )


def per_unet_sample(
    values: torch.Tensor | Sequence, guidance_doubles_batch: bool = True, num_images_per_prompt: int = 1
) -> torch.Tensor:
    """Per-prompt values -> per-UNet-sample values, in diffusers' batch order.

    StableDiffusionPipeline repeats each prompt's embeddings `num_images_per_prompt` times
    consecutively, then concatenates ``[negative, positive]`` for classifier-free guidance, so
    the UNet batch is ``[uncond_0..uncond_{n-1}, cond_0..cond_{n-1}]``: both halves carry the
    same adapter (a person's unconditional branch uses their adapter too, exactly as a
    single-adapter render does).
    """
    values = torch.as_tensor(values)
    if num_images_per_prompt > 1:
        values = values.repeat_interleave(num_images_per_prompt)
    return values.repeat(2) if guidance_doubles_batch else values

"""Targeted linear layers (UNet, text encoders), swapped in place for layers that add each sample's own LoRA term."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import nn

if TYPE_CHECKING:
    from renderer.lora.bank import AdapterBank, LayerBank


class TextProjection(NamedTuple):
    """A cross-attention K/V projection and what it was computed from (tensor `_version`s count in-place writes)."""

    input: torch.Tensor
    input_version: int
    bank_version: int
    output: torch.Tensor
    output_version: int

    def still_valid_for(self, x: torch.Tensor, bank_version: int) -> bool:
        return (
            self.input is x
            and self.input_version == x._version
            and self.bank_version == bank_version
            and self.output_version == self.output._version
        )


class MixedLoraLinear(nn.Module):
    """``base(x) + scale[idx] * ((x @ A[idx]^T) @ B[idx]^T)`` with a per-sample slot index, as two `torch.bmm`.

    Dim 0 of `x` is the batch; any further leading dims (tokens) are flattened. The bank's
    slot indices must have exactly one entry per sample.
    """

    # Plain attributes, not submodules: they stay out of state_dict() and .to() (declared for type checkers).
    bank: AdapterBank
    layer_bank: LayerBank

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
        if hit is not None and hit.still_valid_for(x, self.bank.version):
            return hit.output
        out = self._project(x)
        memo[self.name] = TextProjection(x, x._version, self.bank.version, out, out._version)
        return out

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        gathered = self.layer_bank.batch_weights  # a plain attribute: compile-friendly, no graph break
        if gathered is None:
            return out
        a_t, b_t = gathered
        n = x.shape[0]
        if a_t.dim() == 2:  # every sample on one adapter: two matrix products over the whole batch
            return self._project_uniform(x, out, a_t, b_t)
        if n != a_t.shape[0]:
            raise RuntimeError(
                f"{self.name}: batch of {n} samples but {a_t.shape[0]} slot indices were set "
                f"(with classifier-free guidance use set_batch_slots(..., guidance_doubles_batch=True))"
            )
        h = torch.bmm(x.reshape(n, -1, x.shape[-1]).to(a_t.dtype), a_t)  # [n, T, r]
        out3 = out.view(n, -1, out.shape[-1])
        if out3.dtype == b_t.dtype and not torch.is_grad_enabled():
            out3.baddbmm_(h, b_t)  # inference: add the LoRA term in place, no extra [n, T, out] buffer
            return out
        return (out3 + torch.bmm(h, b_t).to(out.dtype)).view(out.shape)

    def _project_uniform(
        self, x: torch.Tensor, out: torch.Tensor, a_t: torch.Tensor, b_t: torch.Tensor
    ) -> torch.Tensor:
        if x.shape[0] != self.bank.batch_samples:
            raise RuntimeError(
                f"{self.name}: batch of {x.shape[0]} samples but {self.bank.batch_samples} slot indices were set "
                f"(with classifier-free guidance use set_batch_slots(..., guidance_doubles_batch=True))"
            )
        h = x.reshape(-1, x.shape[-1]).to(a_t.dtype) @ a_t  # [n*T, r]
        out2 = out.view(-1, out.shape[-1])
        if out2.dtype == b_t.dtype and not torch.is_grad_enabled():
            out2.addmm_(h, b_t)  # inference: in place, as the mixed path's baddbmm_
            return out
        return out + (h @ b_t).to(out.dtype).view(out.shape)

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
            raise ValueError(
                f"{name!r} is {type(module).__name__}, not nn.Linear "
                f"(unload diffusers/peft LoRA adapters before installing the bank)"
            )
        layer = bank.layers[name]
        if (module.in_features, module.out_features) != (layer.in_features, layer.out_features):
            raise ValueError(
                f"{name!r} is {module.in_features}->{module.out_features}, the bank expects "
                f"{layer.in_features}->{layer.out_features}"
            )
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

"""The LoRA layers a worker trains: put on the resident pipeline once, re-initialised for every job.

peft adds an adapter to the UNet for each job and deletes it after, so the module tree changes from job to job
and nothing can be compiled once per worker. Here each targeted linear layer (`adapter_format.TARGET_MODULES`) is
wrapped once per process by a `LoraLinear` whose A and B are parameters that every job re-initialises in place
(A gaussian with std 1/rank, B zero: peft's "gaussian" init, so a fresh adapter changes nothing).

A layer adds its low-rank term one of two ways, whichever costs less for the shape it is given
(`merged_is_cheaper`): split, `base(x) + (x A^T) B^T`, or merged, one product with `W + B A`. Merged saves
kernels and wins where the layer is small and overhead dominates (the test model on a CPU); split saves the
weight-sized gradient that merging adds and wins on big layers (SDXL).

State dicts use peft's key names (`<module>.lora_A.weight`, `<module>.lora_B.weight`), so checkpoints from
the peft-based trainer resume here and diffusers' `save_lora_weights` writes the adapter file as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from headshots_common.adapter_format import ADAPTER_FILE_NAME

# Per device type, what a split layer's extra kernels cost, in multiply-adds (fixed cost per call over throughput).
# CPU: measured on the development machine (one thread: about 50 us over about 100 GFLOP/s for the split's four
# extra kernels, forward and backward). CUDA: an estimate (a few microseconds of launches at tens of TFLOP/s for
# small products), not measured: on a GPU the split path is chosen for every SDXL layer at 1024 px either way.
SPLIT_OVERHEAD_FLOPS = {"cpu": 5e6, "cuda": 2e8}


def merged_is_cheaper(rows: int, in_features: int, out_features: int, rank: int, device_type: str) -> bool:
    """Whether one product with the merged weight costs less than the split path, forward and backward.

    Merged pays for B A (and its two gradients, 3 r.in.out) and for the weight gradient of the merged product
    (rows.in.out), which a frozen base never needs; split pays for its four thin products (3 rows.r.(in+out))
    and for the kernels themselves.
    """
    merged = rows * in_features * out_features + 3 * rank * in_features * out_features
    split = 3 * rows * rank * (in_features + out_features) + SPLIT_OVERHEAD_FLOPS.get(device_type, 2e8)
    return merged < split


class LoraLinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank term; the term is off (`enabled` False) between jobs."""

    def __init__(self, base: nn.Linear, rank: int):
        super().__init__()
        self.base = base
        device = base.weight.device
        # LoRA weights train in fp32 even when the base runs in bf16.
        self.lora_A = nn.Parameter(torch.zeros(rank, base.in_features, device=device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, device=device))
        self.scale = 1.0  # alpha / rank with alpha = rank, as the adapter file's readers assume without metadata
        self.enabled = False

    # Some diffusers code inspects a projection's weight (dtype, device, shape).
    @property
    def weight(self) -> torch.Tensor:
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

    @property
    def rank(self) -> int:
        return self.lora_A.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return self.base(x)
        weight, a, b = self.base.weight, self.lora_A, self.lora_B
        rows = x.numel() // x.shape[-1]
        if merged_is_cheaper(rows, self.in_features, self.out_features, self.rank, x.device.type):
            delta = torch.mm(b, a) * self.scale
            return F.linear(x, weight + delta.to(weight.dtype), self.base.bias)
        out = F.linear(x, weight, self.base.bias)
        return out + (F.linear(F.linear(x.to(a.dtype), a), b) * self.scale).to(out.dtype)

    def extra_repr(self) -> str:
        return f"rank={self.rank}, enabled={self.enabled}"


class LoraLayers:
    """The `LoraLinear` layers of one model (the UNet or a text encoder), by module name, in module order."""

    def __init__(self, model: nn.Module, targets: Iterable[str], rank: int):
        self.model = model
        targets = tuple(targets)
        self.layers: dict[str, LoraLinear] = {}
        for name, module in list(model.named_modules()):
            if isinstance(module, LoraLinear) or not _targeted(name, targets):
                continue
            if not isinstance(module, nn.Linear):
                raise ValueError(f"{name!r} is {type(module).__name__}, not nn.Linear")
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            layer = LoraLinear(module, rank)
            parent._modules[child] = layer  # ModuleList items too ("to_out.0")
            self.layers[name] = layer
        if not self.layers:
            raise ValueError(f"none of {targets} is a layer of {type(model).__name__}")

    @property
    def rank(self) -> int:
        return next(iter(self.layers.values())).rank

    def parameters(self) -> list[nn.Parameter]:
        """A then B of every layer in module order: the order peft gives an optimizer, so its state dicts match."""
        return [p for layer in self.layers.values() for p in (layer.lora_A, layer.lora_B)]

    def enable(self, on: bool = True) -> None:
        for layer in self.layers.values():
            layer.enabled = on

    def remove(self) -> None:
        """Put the plain linear layers back (another rank is wanted)."""
        for name, layer in self.layers.items():
            parent_name, _, child = name.rpartition(".")
            parent = self.model.get_submodule(parent_name) if parent_name else self.model
            parent._modules[child] = layer.base
        self.layers = {}

    @torch.no_grad()
    def reset(self, generator: torch.Generator) -> None:
        """A fresh adapter: A drawn from `generator` (std 1/rank, in module order), B zero."""
        for layer in self.layers.values():
            a = torch.randn(layer.lora_A.shape, generator=generator) / layer.rank
            layer.lora_A.copy_(a)
            layer.lora_B.zero_()

    def state_dict(self) -> dict[str, torch.Tensor]:
        """peft's keys and the weights on their device (detached)."""
        out = {}
        for name, layer in self.layers.items():
            out[f"{name}.lora_A.weight"] = layer.lora_A.detach()
            out[f"{name}.lora_B.weight"] = layer.lora_B.detach()
        return out

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Weights by peft's keys (a checkpoint); every layer must be there, at this rank."""
        expected = set(self.state_dict())
        if set(state) != expected:
            missing, extra = sorted(expected - set(state))[:3], sorted(set(state) - expected)[:3]
            raise ValueError(
                f"the checkpoint's LoRA layers do not match this model's (missing {missing}, extra {extra})"
            )
        for name, layer in self.layers.items():
            layer.lora_A.copy_(state[f"{name}.lora_A.weight"])
            layer.lora_B.copy_(state[f"{name}.lora_B.weight"])


def _targeted(name: str, targets: tuple[str, ...]) -> bool:
    """peft's rule: the module's name is a target, or ends with "." and a target."""
    return any(name == target or name.endswith(f".{target}") for target in targets)


def save_adapter(pipe, out_dir: Path, unet: LoraLayers, text_encoders: dict[str, LoraLayers]) -> Path:
    """The adapter file in diffusers' LoRA format (`headshots_common.adapter_format`), written by diffusers."""
    from diffusers.utils import convert_state_dict_to_diffusers

    out_dir.mkdir(parents=True, exist_ok=True)

    def cpu(layers: LoraLayers) -> dict[str, torch.Tensor]:
        return convert_state_dict_to_diffusers({k: v.float().cpu() for k, v in layers.state_dict().items()})

    text_layers = {f"{name}_lora_layers": cpu(layers) for name, layers in text_encoders.items()}
    type(pipe).save_lora_weights(
        out_dir, unet_lora_layers=cpu(unet), weight_name=ADAPTER_FILE_NAME, safe_serialization=True, **text_layers
    )
    return out_dir / ADAPTER_FILE_NAME

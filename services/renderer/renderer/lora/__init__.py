"""Many people's LoRA adapters in ONE batched UNet forward pass (docs/renderer.md has the design).

- `adapter_file`: an adapter file read into host RAM (per-layer A, B and scale), checked completely;
- `layers`: `MixedLoraLinear`, each targeted linear layer plus a per-sample LoRA term;
- `bank`: `AdapterBank`, the device tier: stacked slot weights and the running batch's slots;
- `manager`: `AdapterManager`, one adapter id through the blob, host and device tiers.
"""

from renderer.lora.adapter_file import LoraLayerWeights, ParsedAdapter, load_adapter_file, parse_lora_state_dict
from renderer.lora.bank import AdapterBank, per_unet_sample
from renderer.lora.layers import MixedLoraLinear, install_mixed_lora, uninstall_mixed_lora
from renderer.lora.manager import AdapterManager, HostAdapterCache, SlotAllocator

__all__ = [
    "AdapterBank",
    "AdapterManager",
    "HostAdapterCache",
    "LoraLayerWeights",
    "MixedLoraLinear",
    "ParsedAdapter",
    "SlotAllocator",
    "install_mixed_lora",
    "load_adapter_file",
    "parse_lora_state_dict",
    "per_unet_sample",
    "uninstall_mixed_lora",
]

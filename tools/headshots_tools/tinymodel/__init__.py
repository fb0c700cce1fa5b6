"""The tiny offline base model: a randomly initialised SD1.5- or SDXL-architecture diffusers model."""

from headshots_tools.tinymodel.generate import ARCHITECTURES, ensure_tiny_base_model, generate_tiny_base_model

__all__ = ["ARCHITECTURES", "ensure_tiny_base_model", "generate_tiny_base_model"]

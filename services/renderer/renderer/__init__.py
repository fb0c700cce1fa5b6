"""Headshots renderer: a resident base model with per-user LoRA adapters, served by Ray Serve."""

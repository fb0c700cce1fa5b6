"""Headshots trainer: turns an order's selfies into a per-person LoRA adapter."""

"""The resident base pipeline and rendering with a per-request LoRA adapter (diffusers' standard path)."""

from __future__ import annotations

import io
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from PIL import Image

from headshots_common.basemodel import ensure_base_model
from headshots_common.blobstore import open_blob_store
from headshots_common.styles import NEGATIVE_PROMPT, STYLES


@dataclass(frozen=True)
class RenderedImage:
    index: int
    style_id: str
    seed: int
    image: Image.Image

    def png(self) -> bytes:
        out = io.BytesIO()
        self.image.save(out, format="PNG")
        return out.getvalue()


def prompt_for(item, subject_phrase: str) -> str:
    if item.prompt:
        return item.prompt
    if item.style_id not in STYLES:
        raise ValueError(f"unknown style {item.style_id!r}")
    return STYLES[item.style_id].prompt(subject_phrase or "person")


class RenderEngine:
    """Holds one base pipeline for the life of the replica; adapters are loaded per request."""

    def __init__(self, base_model: str, base_model_arch: str, blob_url: str, device: str = "auto",
                 default_steps: int = 12, default_guidance: float = 5.0, max_batch: int = 8):
        from diffusers import DiffusionPipeline

        self.device = torch.device(device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.base_model = ensure_base_model(base_model, arch=base_model_arch)
        self.pipe = DiffusionPipeline.from_pretrained(self.base_model, torch_dtype=dtype).to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        self.blobs = open_blob_store(blob_url)
        self.native_size = self.pipe.unet.config.sample_size * self.pipe.vae_scale_factor
        self.default_steps, self.default_guidance, self.max_batch = default_steps, default_guidance, max_batch
        self.images_rendered = 0
        # One pipeline, one request at a time: adapters are swapped on the shared UNet.
        self._lock = threading.Lock()

    def render(self, request) -> Iterator[RenderedImage]:
        """Render `request.items` in batches, yielding each image as its batch finishes."""
        items = list(request.items)
        prompts = [prompt_for(item, request.subject_phrase) for item in items]  # bad styles fail before any work
        size = (request.height or self.native_size, request.width or self.native_size)
        steps = request.num_inference_steps or self.default_steps
        guidance = request.guidance_scale or self.default_guidance
        with self._lock, self._adapter(request.adapter):
            for start in range(0, len(items), self.max_batch):
                batch = items[start:start + self.max_batch]
                images = self.pipe(
                    prompt=prompts[start:start + len(batch)],
                    negative_prompt=[item.negative_prompt or NEGATIVE_PROMPT for item in batch],
                    height=size[0], width=size[1], num_inference_steps=steps, guidance_scale=guidance,
                    generator=[torch.Generator().manual_seed(item.seed) for item in batch],
                ).images
                for offset, (item, image) in enumerate(zip(batch, images)):
                    self.images_rendered += 1
                    yield RenderedImage(start + offset, item.style_id, item.seed, image)

    @contextmanager
    def _adapter(self, adapter):
        """The request's LoRA on the shared UNet for the duration of the request; none for the bare base."""
        if not adapter.adapter_key:
            yield
            return
        path = self.blobs.local_path(adapter.adapter_key)
        self.pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name="request")
        try:
            self.pipe.set_adapters(["request"], adapter_weights=[adapter.scale or 1.0])
            yield
        finally:
            self.pipe.delete_adapters("request")

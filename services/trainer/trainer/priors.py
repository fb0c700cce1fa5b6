"""Class images for DreamBooth prior preservation, made once per (base model, subject class, resolution).

The base pipeline itself draws `count` images of the bare class prompt ("a photo of person"); they are stored
in the blob store under a prefix shared by every order (`blob_layout.class_images_prefix`) and never rewritten:
the first order of a class pays for generating them, every later order (in any trainer process) only reads them.
Image i is drawn with seed CLASS_IMAGE_SEED + i, so two workers that race to make the same missing image write
the same picture.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable

import torch
from PIL import Image

from headshots_common.blob_layout import class_image_key

log = logging.getLogger(__name__)

CLASS_IMAGE_SEED = 0
GENERATION_BATCH = 4  # images per pipeline call

_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)  # one generator per prefix per process
_locks_guard = threading.Lock()


def class_prompt(subject_class: str) -> str:
    return f"a photo of {subject_class or 'person'}"


def model_id(base_model: str, digest: str) -> str:
    """What names a base model in the class images' prefix: its folder digest; for a hub id a hash of the id."""
    return digest or "hub-" + hashlib.sha256(base_model.encode()).hexdigest()[:32]


@torch.no_grad()
def generate_class_images(pipe, prompt: str, seeds: list[int], resolution: int, steps: int) -> list[Image.Image]:
    """One image of `prompt` per seed, drawn by the base pipeline (no adapter must be attached)."""
    pipe.set_progress_bar_config(disable=True)
    return pipe(
        [prompt] * len(seeds),
        height=resolution,
        width=resolution,
        num_inference_steps=steps,
        generator=[torch.Generator().manual_seed(s) for s in seeds],
    ).images


def ensure_class_images(
    blobs,
    pipe,
    prefix: str,
    prompt: str,
    count: int,
    resolution: int,
    steps: int,
    progress: Callable[[], None] | None = None,
) -> list[Image.Image]:
    """The `count` class images under `prefix`, generating (and storing) only those not stored yet.

    `progress` is called after each generated batch, and while this job waits for another job of the process
    that generates them (the lease keeper's marks: waiting on a job that makes progress is no stall)."""
    with _locks_guard:
        lock = _locks[prefix]
    while not lock.acquire(timeout=5.0):
        if progress:
            progress()
    try:
        keys = [class_image_key(prefix, i) for i in range(count)]
        missing = [i for i, key in enumerate(keys) if not blobs.exists(key)]
        if missing:
            started = time.monotonic()
            log.info("generating %d class images of %r at %d px under %s", len(missing), prompt, resolution, prefix)
            for start in range(0, len(missing), GENERATION_BATCH):
                chunk = missing[start : start + GENERATION_BATCH]
                images = generate_class_images(pipe, prompt, [CLASS_IMAGE_SEED + i for i in chunk], resolution, steps)
                for i, image in zip(chunk, images):
                    if not blobs.exists(keys[i]):  # immutable: another process may have stored it meanwhile
                        buffer = io.BytesIO()
                        image.save(buffer, format="PNG")
                        blobs.put(keys[i], buffer.getvalue())
                if progress:
                    progress()
            log.info("class images under %s ready in %.1fs", prefix, time.monotonic() - started)
        images = []
        for key in keys:
            image = Image.open(io.BytesIO(blobs.get(key)))
            image.load()
            images.append(image.convert("RGB"))
        return images
    finally:
        lock.release()

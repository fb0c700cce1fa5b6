"""The resident base pipeline, rendering many tenants' LoRA adapters in one batched call.

`RenderEngine.submit` checks a request (styles, adapter file) and queues its images with the
`BatchScheduler`; one background thread takes cross-tenant batches and runs each as ONE
pipeline call, every sample on its own adapter slot (`lora_bank`). Adapters live in three
tiers: device slots (`AdapterBank`), host RAM (`AdapterCache`), the blob store.

Work that does not change between images or steps is done once: prompt embeddings per distinct
prompt (`prompt_cache`), cross-attention keys/values per batch (`AdapterBank.reuse_text_projections`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
from PIL import Image

from headshots_common.basemodel import ensure_base_model
from headshots_common.blobstore import open_blob_store
from headshots_common.styles import NEGATIVE_PROMPT, STYLES
from renderer.lora_bank import AdapterBank, MixedLoraManager, install_mixed_lora
from renderer.prompt_cache import PromptEmbeddingCache
from renderer.scheduler import BatchKey, BatchScheduler, Job, Task

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class ImageSpec:
    """One image to render, its prompt resolved at submit time."""

    index: int
    style_id: str
    seed: int
    prompt: str
    negative_prompt: str


@dataclass(frozen=True)
class AdapterUse:
    """The adapter a job renders with; adapter_id None is the bare base model (slot 0)."""

    adapter_id: str | None
    scale: float = 1.0


@dataclass(frozen=True)
class EngineSettings:
    default_steps: int = 12
    default_guidance: float = 5.0
    max_batch: int = 8
    max_wait_s: float = 0.025
    adapter_slots: int = 16
    lora_r_max: int = 64
    adapter_cache_capacity: int = 64
    prompt_cache_capacity: int = 256
    # torch.compile the UNet (after the mixed-LoRA modules are installed). The bank then gathers at a
    # fixed rank (r_max) so that a new adapter mix is a new tensor VALUE, never a new shape: no recompile.
    compile_unet: bool = False


DTYPES = {"fp16": torch.float16, "float16": torch.float16, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
          "fp32": torch.float32, "float32": torch.float32}


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """`auto`: fp16 on CUDA, fp32 elsewhere; else fp16 / bf16 / fp32 as named."""
    if name in ("", "auto"):
        return torch.float16 if device.type == "cuda" else torch.float32
    try:
        return DTYPES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown render dtype {name!r}: expected auto, fp16, bf16 or fp32") from None


def attention_processors(unet) -> dict[str, int]:
    """Attention processor class name -> how many of the UNet's attention layers use it."""
    counts: dict[str, int] = {}
    for processor in unet.attn_processors.values():
        counts[type(processor).__name__] = counts.get(type(processor).__name__, 0) + 1
    return counts


class AdapterEvicted(RuntimeError):
    """The adapter was evicted (its order deleted) while the request waited."""


def prompt_for(item, subject_phrase: str) -> str:
    if item.prompt:
        return item.prompt
    if item.style_id not in STYLES:
        raise ValueError(f"unknown style {item.style_id!r}")
    return STYLES[item.style_id].prompt(subject_phrase or "person")


class RenderEngine:
    """One base pipeline for the life of the replica, shared by every tenant's requests."""

    def __init__(self, pipe, blobs, settings: EngineSettings = EngineSettings()):
        self.pipe = pipe
        self.blobs = blobs
        self.settings = settings
        self.native_size = pipe.unet.config.sample_size * pipe.vae_scale_factor
        self.bank = install_mixed_lora(pipe.unet, AdapterBank.from_unet(
            pipe.unet, num_slots=settings.adapter_slots, r_max=settings.lora_r_max,
            static_rank=settings.compile_unet))
        # diffusers' default on torch >= 2: AttnProcessor2_0, i.e. F.scaled_dot_product_attention (flash /
        # memory-efficient kernels on CUDA). Recorded so a deployment can check it (see `attention`).
        self.attention = attention_processors(pipe.unet)
        if settings.compile_unet:
            pipe.unet.compile()  # in place: module names (and the bank's modules) stay as they are
        self.adapters = MixedLoraManager(self.bank, cache_capacity=settings.adapter_cache_capacity,
                                         resolve=self._adapter_path)
        self._adapter_keys: dict[str, str] = {}  # adapter id -> blob key (the third tier)
        self.prompts = PromptEmbeddingCache(pipe, settings.prompt_cache_capacity)
        # At most one batch per tenant-slot: a batch never needs more adapters than there are slots.
        self.scheduler = BatchScheduler(settings.max_batch, settings.max_wait_s,
                                        max_tenants=min(settings.max_batch, settings.adapter_slots))
        self.images_rendered = 0
        self.batch_sizes: list[int] = []  # for tests and stats: the size of every batch run
        # Held while a batch runs; eviction waits for it so a slot never changes under a forward pass.
        self._batch_lock = threading.Lock()
        self._worker = threading.Thread(target=self._run_batches, name="render-batches", daemon=True)
        self._worker.start()

    @classmethod
    def load(cls, base_model: str, base_model_arch: str, blob_url: str, device: str = "auto",
             settings: EngineSettings = EngineSettings(), dtype: str = "auto") -> "RenderEngine":
        from diffusers import DiffusionPipeline

        device = torch.device(device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
        torch_dtype = resolve_dtype(dtype, device)
        pipe = DiffusionPipeline.from_pretrained(ensure_base_model(base_model, arch=base_model_arch),
                                                 torch_dtype=torch_dtype).to(device)
        pipe.set_progress_bar_config(disable=True)
        engine = cls(pipe, open_blob_store(blob_url), settings)
        engine.base_model = base_model
        log.info("render engine: %s on %s, %s, attention %s, compile %s", base_model, device, torch_dtype,
                 engine.attention, settings.compile_unet)
        return engine

    # -- requests ----------------------------------------------------------------------------

    def submit(self, request, on_result: Callable[[Task, Any], None]) -> Job:
        """Queue a RenderRequest's images; `on_result(task, RenderedImage | Exception)` per image.

        Raises ValueError at once for an unknown style or an unusable adapter file, so a bad
        request never reaches a batch. The adapter is read into host RAM here, outside the
        batch loop.
        """
        items = [ImageSpec(i, item.style_id, item.seed, prompt_for(item, request.subject_phrase),
                           item.negative_prompt or NEGATIVE_PROMPT) for i, item in enumerate(request.items)]
        adapter = self._register_adapter(request.adapter)
        key = BatchKey(height=request.height or self.native_size, width=request.width or self.native_size,
                       steps=request.num_inference_steps or self.settings.default_steps,
                       guidance=request.guidance_scale or self.settings.default_guidance)
        job = Job(tenant=adapter.adapter_id or "", key=key, items=items, on_result=on_result, context=adapter)
        if items:
            self.scheduler.submit(job)
        return job

    def render(self, request) -> Iterator[RenderedImage]:
        """Blocking: yield each image of `request` as its batch finishes; raise its first error."""
        results: queue.Queue = queue.Queue()
        job = self.submit(request, lambda task, result: results.put(result))
        try:
            for _ in job.items:
                result = results.get()
                if isinstance(result, BaseException):
                    raise result
                yield result
        finally:
            self.cancel(job)

    def cancel(self, job: Job) -> None:
        """Drop a job's queued images (its caller went away)."""
        self.scheduler.cancel(lambda j: j is job)

    def prefetch(self, adapter_ref) -> bool:
        """Load an adapter into host RAM ahead of its renders; True if it was already loaded."""
        adapter = self._register_adapter(adapter_ref)
        return adapter.adapter_id is None or self.adapters.is_loaded(adapter.adapter_id)

    def evict(self, adapter_id: str) -> bool:
        """Drop an adapter from the device slots and host RAM, and fail its queued images."""
        cancelled = self.scheduler.cancel(lambda job: job.context.adapter_id == adapter_id)
        for task in cancelled:
            task.job.on_result(task, AdapterEvicted(f"adapter {adapter_id!r} was evicted"))
        with self._batch_lock:
            evicted = self.adapters.evict(adapter_id)
            known = self._adapter_keys.pop(adapter_id, None) is not None
        return evicted or known or bool(cancelled)

    def stats(self) -> dict[str, Any]:
        slots = self.adapters.slots
        lookups = slots.hits + slots.misses
        cache = self.adapters.cache
        cache_lookups = cache.hits + cache.misses
        return dict(
            images_rendered=self.images_rendered,
            queue_depth=self.scheduler.depth,
            batches=self.scheduler.batches,
            mean_batch_size=self.scheduler.mean_batch_size,
            adapters_cached=len(cache),
            host_cache_capacity=cache.capacity,
            host_cache_hit_rate=cache.hits / cache_lookups if cache_lookups else 0.0,
            slots_used=len(slots.resident()),
            slots_total=self.bank.num_slots,
            slot_hit_rate=slots.hits / lookups if lookups else 0.0,
            slot_evictions=slots.evictions,
            adapter_file_loads=self.adapters.file_loads,
            **self.prompts.stats(),
        )

    def close(self) -> None:
        self.scheduler.close()
        self._worker.join(timeout=60)

    # -- adapters ----------------------------------------------------------------------------

    def _register_adapter(self, ref) -> AdapterUse:
        if ref is None or not ref.adapter_key:
            return AdapterUse(None)
        adapter_id = ref.adapter_id or ref.adapter_key
        previous = self._adapter_keys.get(adapter_id)
        if previous is not None and previous != ref.adapter_key:
            self.evict(adapter_id)  # the id now names another file (retrained): drop the stale copies
        self._adapter_keys[adapter_id] = ref.adapter_key
        self.adapters.prefetch(adapter_id)  # ValueError for a missing/corrupt/incompatible file
        return AdapterUse(adapter_id, ref.scale or 1.0)

    def _adapter_path(self, adapter_id: str):
        key = self._adapter_keys.get(adapter_id)
        if key is None:
            raise ValueError(f"adapter {adapter_id!r} is not registered (evicted?)")
        try:
            return self.blobs.local_path(key)
        except KeyError as exc:
            raise ValueError(f"adapter {adapter_id!r}: blob {key!r} not found") from exc

    # -- the batch loop ----------------------------------------------------------------------

    def _run_batches(self) -> None:
        while True:
            tasks = self.scheduler.next_batch()
            if not tasks:
                if self.scheduler.closed:
                    return
                continue
            try:
                self._run_batch(tasks)
            except BaseException as exc:  # the loop must survive anything one batch does
                log.exception("render batch failed")
                for task in tasks:
                    task.job.on_result(task, exc)

    def _run_batch(self, tasks: list[Task]) -> None:
        with self._batch_lock:
            tasks = self._load_adapters(tasks)
            if not tasks:
                return
            key: BatchKey = tasks[0].job.key
            specs: list[ImageSpec] = [t.item for t in tasks]
            uses: list[AdapterUse] = [t.job.context for t in tasks]
            cfg = self._uses_cfg(key.guidance)
            with torch.no_grad(), self.adapters.batch([u.adapter_id for u in uses], [u.scale for u in uses], cfg=cfg), \
                    self._reused_text_projections():
                embeddings = self.prompts.pipeline_arguments([s.prompt for s in specs],
                                                             [s.negative_prompt for s in specs], cfg)
                images = self.pipe(
                    **embeddings, height=key.height, width=key.width, num_inference_steps=key.steps,
                    guidance_scale=key.guidance, generator=[torch.Generator().manual_seed(s.seed) for s in specs],
                ).images
            self.batch_sizes.append(len(tasks))
        for task, spec, image in zip(tasks, specs, images):
            self.images_rendered += 1
            task.job.on_result(task, RenderedImage(spec.index, spec.style_id, spec.seed, image))

    def _load_adapters(self, tasks: list[Task]) -> list[Task]:
        """Put each adapter of the batch in a slot; a failing one fails only its own tasks."""
        ids = list(dict.fromkeys(t.job.context.adapter_id for t in tasks if t.job.context.adapter_id))
        failed: dict[str, Exception] = {}
        for adapter_id in ids:
            try:
                self.adapters.ensure(adapter_id, pinned=ids)
            except Exception as exc:
                failed[adapter_id] = exc
        for task in tasks:
            if task.job.context.adapter_id in failed:
                task.job.on_result(task, failed[task.job.context.adapter_id])
        return [t for t in tasks if t.job.context.adapter_id not in failed]

    def _reused_text_projections(self):
        # A compiled UNet keeps its graph instead: the reuse check is Python-side state.
        return contextlib.nullcontext() if self.settings.compile_unet else self.bank.reuse_text_projections()

    def _uses_cfg(self, guidance: float) -> bool:
        # diffusers doubles the UNet batch ([uncond, cond]) exactly when this holds.
        return guidance > 1.0 and self.pipe.unet.config.get("time_cond_proj_dim") is None

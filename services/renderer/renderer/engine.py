"""The resident base pipeline, rendering many people's LoRA adapters in one batched call.

`RenderEngine.submit` checks a request (styles, adapter file) and queues its images with the
`BatchScheduler`; one background thread takes batches that mix adapters and runs each as ONE
pipeline call, every sample on its own adapter slot (`renderer.lora`). `AdapterManager` keeps
each adapter in three tiers: device slots, host RAM, the blob store.

Work that does not change between images or steps is done once: prompt embeddings per distinct
prompt (`prompt_cache`), cross-attention keys/values per call (`AdapterBank.reuse_text_projections`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from headshots_common import blob_layout, tracing
from headshots_common.adapter_format import TEXT_ENCODERS
from headshots_common.basemodel import native_resolution, resolve_base_model
from headshots_common.blobstore import BlobStore, open_blob_store
from headshots_common.styles import NEGATIVE_PROMPT, STYLES
from renderer.errors import AdapterDeleted, AdapterEvicted
from renderer.lora import AdapterBank, AdapterManager, install_mixed_lora
from renderer.prompt_cache import PromptEmbeddingCache
from renderer.scheduler import BatchKey, BatchScheduler, QueuedImage, QueuedRequest
from renderer.threads import run_torch_here, single_threaded_elsewhere

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
    """The adapter a request renders with; adapter_id None is the bare base model (slot 0)."""

    adapter_id: str | None
    scale: float = 1.0


@dataclass(frozen=True)
class EngineSettings:
    default_steps: int = 12
    default_guidance: float = 5.0
    max_batch: int = 8
    # A request too big for a batch (an order's pack) runs alone, in equal batches of at most this many images;
    # 0: 4 x max_batch on a CPU (a CPU's cost per sample still falls past a mixed batch), max_batch on a GPU (its
    # cost per sample has flattened there, and bigger calls only take memory: the VAE decodes a call at once).
    max_request_batch: int = 0
    max_wait_s: float = 0.025
    adapter_slots: int = 16
    lora_r_max: int = 64
    adapter_cache_capacity: int = 64
    prompt_cache_capacity: int = 256
    # torch.compile the UNet (after the mixed-LoRA modules are installed). The bank then gathers at a
    # fixed rank (r_max) so that a new adapter mix is a new tensor VALUE, never a new shape: no recompile.
    compile_unet: bool = False
    # > 0: the batch thread runs torch on this many threads and every other thread of the process on one, so the
    # process holds one OpenMP team (a replica: renderer.threads); 0 leaves torch's threads as they are.
    torch_threads: int = 0


DTYPES = {
    "fp16": torch.float16,
    "float16": torch.float16,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp32": torch.float32,
    "float32": torch.float32,
}


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


def prompt_for(item, subject_phrase: str) -> str:
    if item.prompt:
        return item.prompt
    if item.style_id not in STYLES:
        raise ValueError(f"unknown style {item.style_id!r}")
    return STYLES[item.style_id].prompt(subject_phrase or "person")


class RenderEngine:
    """One base pipeline for the life of the replica, shared by every person's requests."""

    def __init__(self, pipe, blobs: BlobStore, settings: EngineSettings = EngineSettings()):
        if settings.torch_threads:  # the banks below are filled on this thread: one thread, no OpenMP team
            single_threaded_elsewhere()
        self.pipe = pipe
        # The base model's own scheduler; a request may name another of its compatibles (`_sampler`).
        self.base_scheduler = pipe.scheduler
        self.samplers: dict[str, Any] = {}
        self.blobs = blobs
        self.settings = settings
        self.replica_id = "local"  # the Serve replica's id, once the deployment knows it
        self.base_model = ""
        self.native_size = native_resolution(pipe)
        self.bank = install_mixed_lora(
            pipe.unet,
            AdapterBank.from_unet(
                pipe.unet,
                num_slots=settings.adapter_slots,
                r_max=settings.lora_r_max,
                static_rank=settings.compile_unet,
            ),
        )
        # Adapters that trained the text encoders too change the prompt embeddings: a bank per encoder.
        self.text_banks = {
            name: install_mixed_lora(
                encoder,
                AdapterBank.from_text_encoder(
                    encoder, name, num_slots=settings.adapter_slots, r_max=settings.lora_r_max
                ),
            )
            for name in TEXT_ENCODERS
            if (encoder := getattr(pipe, name, None)) is not None
        }
        # diffusers' default on torch >= 2: AttnProcessor2_0, i.e. F.scaled_dot_product_attention (flash /
        # memory-efficient kernels on CUDA). Recorded so a deployment can check it (see `attention`).
        self.attention = attention_processors(pipe.unet)
        if settings.compile_unet:
            pipe.unet.compile()  # in place: module names (and the bank's modules) stay as they are
        self.adapters = AdapterManager(
            self.bank, blobs, host_capacity=settings.adapter_cache_capacity, text_banks=self.text_banks
        )
        self.prompts = PromptEmbeddingCache(
            pipe, settings.prompt_cache_capacity, text_encoders_for=self.adapters.text_batch
        )
        # A batch never needs more adapters than there are device slots.
        self.scheduler = BatchScheduler(
            settings.max_batch,
            settings.max_wait_s,
            max_adapters=min(settings.max_batch, settings.adapter_slots),
            max_request_batch=settings.max_request_batch
            or (settings.max_batch if pipe.device.type == "cuda" else 4 * settings.max_batch),
        )
        self.images_rendered = 0
        self.batch_sizes: list[int] = []  # for tests and stats: the size of every batch run
        # Held while a batch runs; eviction waits for it so a slot never changes under a forward pass.
        self._batch_lock = threading.Lock()
        torch_ready = threading.Event()
        self._worker = threading.Thread(
            target=self._run_batches, args=(torch_ready,), name="render-batches", daemon=True
        )
        self._worker.start()
        torch_ready.wait()
        if settings.torch_threads:  # the batch thread took its count: every thread from now on takes one
            single_threaded_elsewhere()

    @classmethod
    def load(
        cls,
        base_model: str,
        blob_url: str,
        device: str = "auto",
        settings: EngineSettings = EngineSettings(),
        dtype: str = "auto",
    ) -> RenderEngine:
        from diffusers import DiffusionPipeline

        if settings.torch_threads:  # loaded on this thread, which goes on serving: one thread, no OpenMP team
            single_threaded_elsewhere()
        torch_device = torch.device(device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
        torch_dtype = resolve_dtype(dtype, torch_device)
        pipe = DiffusionPipeline.from_pretrained(resolve_base_model(base_model), dtype=torch_dtype).to(torch_device)
        pipe.set_progress_bar_config(disable=True)
        engine = cls(pipe, open_blob_store(blob_url), settings)
        engine.base_model = base_model
        log.info(
            "render engine: %s on %s, %s, attention %s, compile %s",
            base_model,
            device,
            torch_dtype,
            engine.attention,
            settings.compile_unet,
        )
        return engine

    # -- requests ----------------------------------------------------------------------------

    def submit(self, request, on_result: Callable[[QueuedImage, Any], None], traceparent: str = "") -> QueuedRequest:
        """Queue a RenderRequest's images; `on_result(image, RenderedImage | Exception)` per image.

        Raises ValueError at once for an unknown style or an unusable adapter file, so a bad
        request never reaches a batch. The adapter is read into host RAM here, outside the
        batch loop.
        """
        items = [
            ImageSpec(
                i,
                item.style_id,
                item.seed,
                prompt_for(item, request.subject_phrase),
                item.negative_prompt or NEGATIVE_PROMPT,
            )
            for i, item in enumerate(request.items)
        ]
        adapter = self._register_adapter(request.adapter)
        key = BatchKey(
            height=request.height or self.native_size,
            width=request.width or self.native_size,
            steps=request.num_inference_steps or self.settings.default_steps,
            guidance=request.guidance_scale or self.settings.default_guidance,
            sampler=self._check_sampler(request.sampler),
        )
        queued = QueuedRequest(
            adapter_id=adapter.adapter_id or "",
            key=key,
            items=items,
            on_result=on_result,
            context=adapter,
            traceparent=traceparent,
        )
        if items:
            self.scheduler.submit(queued)
        return queued

    def render(self, request) -> Iterator[RenderedImage]:
        """Blocking: yield each image of `request` as its batch finishes; raise its first error."""
        results: queue.Queue = queue.Queue()
        queued = self.submit(request, lambda image, result: results.put(result))
        try:
            for _ in queued.items:
                result = results.get()
                if isinstance(result, BaseException):
                    raise result
                yield result
        finally:
            self.cancel(queued)

    def cancel(self, queued: QueuedRequest) -> None:
        """Drop a request's queued images (its caller went away)."""
        self.scheduler.cancel(lambda r: r is queued)

    def prefetch(self, adapter_ref) -> bool:
        """Load an adapter into host RAM ahead of its renders; True if it was already loaded."""
        adapter = self._register_adapter(adapter_ref)
        return adapter.adapter_id is None or self.adapters.is_loaded(adapter.adapter_id)

    def evict(self, adapter_id: str) -> int:
        """Drop an adapter from every tier and its prompt embeddings, and fail its queued images; returns how many
        entries (tiers, embeddings, queued images) held something of it."""
        cancelled = self.scheduler.cancel(lambda r: r.context.adapter_id == adapter_id)
        for image in cancelled:
            image.request.on_result(image, AdapterEvicted(f"adapter {adapter_id!r} was evicted"))
        with self._batch_lock:
            evicted = self.adapters.evict(adapter_id)
            forgotten = self.prompts.forget_adapter(adapter_id)
        return evicted + forgotten + len(cancelled)

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
            host_cache_evictions=cache.evictions,
            slots_used=len(slots.resident()),
            slots_total=self.bank.num_slots,
            slot_hit_rate=slots.hits / lookups if lookups else 0.0,
            slot_evictions=slots.evictions,
            adapter_file_loads=self.adapters.file_loads,
            replica_id=self.replica_id,
            adapters_resident=self.adapters.resident(),
            **self.prompts.stats(),
        )

    def _adapters_by_order(self) -> dict[str, list[str]]:
        by_order: dict[str, list[str]] = {}
        for adapter_id in self.adapters.resident():
            key = self.adapters.blob_key(adapter_id)
            order_id = blob_layout.order_id_of(key) if key else None
            if order_id is not None:
                by_order.setdefault(order_id, []).append(adapter_id)
        return by_order

    def evict_order(self, order_id: str) -> int:
        """Evict every adapter of a deleted order; returns the entries dropped."""
        return sum(self.evict(a) for a in self._adapters_by_order().get(order_id, []))

    def held(self, order_id: str) -> int:
        """How many of the order's adapters this replica still holds in some tier (0 once all are evicted)."""
        return len(self._adapters_by_order().get(order_id, []))

    def evict_replaced(self, order_id: str, adapter_key: str) -> int:
        """Evict the order's adapters held under any key but `adapter_key` (its newest training); entries dropped."""
        return sum(
            self.evict(a)
            for a in self._adapters_by_order().get(order_id, [])
            if self.adapters.blob_key(a) != adapter_key
        )

    def evict_deleted(self) -> dict[str, int]:
        """Evict the adapters of every order that was deleted (a backstop for a deletion event this replica
        missed); returns the entries dropped per order."""
        return {
            order_id: sum(self.evict(a) for a in adapter_ids)
            for order_id, adapter_ids in self._adapters_by_order().items()
            if self.blobs.is_deleted(order_id)
        }

    def close(self) -> None:
        self.scheduler.close()
        self._worker.join(timeout=60)

    # -- adapters ----------------------------------------------------------------------------

    def _register_adapter(self, ref) -> AdapterUse:
        if ref is None or not ref.adapter_key:
            return AdapterUse(None)
        adapter_id = ref.adapter_id or ref.adapter_key
        order_id = blob_layout.order_id_of(ref.adapter_key)
        if order_id is not None and self.blobs.is_deleted(order_id):
            self.evict(adapter_id)
            raise AdapterDeleted(f"adapter {adapter_id!r}: its order {order_id} was deleted")
        if self.adapters.blob_key(adapter_id) not in (None, ref.adapter_key):
            self.evict(adapter_id)  # the id now names another file (retrained): drop the stale copies
        self.adapters.register(adapter_id, ref.adapter_key)
        self.adapters.prefetch(adapter_id)  # ValueError for a missing/corrupt/incompatible file
        return AdapterUse(adapter_id, ref.scale or 1.0)

    # -- the batch loop ----------------------------------------------------------------------

    def _run_batches(self, torch_ready: threading.Event) -> None:
        if self.settings.torch_threads:
            run_torch_here(self.settings.torch_threads)
        torch_ready.set()
        while True:
            batch = self.scheduler.next_batch()
            if not batch:
                if self.scheduler.closed:
                    return
                continue
            try:
                self._run_batch(batch)
            except BaseException as exc:  # the loop must survive anything one batch does
                log.exception("render batch failed")
                for image in batch:
                    image.request.on_result(image, exc)

    def _run_batch(self, batch: list[QueuedImage]) -> None:
        with self._batch_lock, _batch_spans(batch):
            batch = self._load_adapters(batch)
            if not batch:
                return
            key: BatchKey = batch[0].request.key
            specs: list[ImageSpec] = [image.item for image in batch]
            uses: list[AdapterUse] = [image.request.context for image in batch]
            doubled = self._guidance_doubles_batch(key.guidance)
            with (
                torch.no_grad(),
                self.adapters.batch(
                    [u.adapter_id for u in uses], [u.scale for u in uses], guidance_doubles_batch=doubled
                ),
                self._reused_text_projections(),
            ):
                embeddings = self.prompts.pipeline_arguments(
                    [s.prompt for s in specs],
                    [s.negative_prompt for s in specs],
                    doubled,
                    [
                        (u.adapter_id, u.scale)
                        if u.adapter_id and self.adapters.changes_text_encoders(u.adapter_id)
                        else None
                        for u in uses
                    ],
                )
                self.pipe.scheduler = self._sampler(key.sampler)
                images = self.pipe(
                    **embeddings,
                    height=key.height,
                    width=key.width,
                    num_inference_steps=key.steps,
                    guidance_scale=key.guidance,
                    generator=[torch.Generator().manual_seed(s.seed) for s in specs],
                ).images
            self.batch_sizes.append(len(batch))
        for queued_image, spec, image in zip(batch, specs, images):
            self.images_rendered += 1
            queued_image.request.on_result(queued_image, RenderedImage(spec.index, spec.style_id, spec.seed, image))

    def _check_sampler(self, name: str) -> str:
        """`name` when the base model's scheduler can be swapped for it ("" for its own); else ValueError."""
        base = self.base_scheduler
        if name in ("", type(base).__name__):
            return ""
        if name not in {cls.__name__ for cls in base.compatibles}:
            raise ValueError(f"unknown sampler {name!r} for this base model")
        return name

    def _sampler(self, name: str):
        """The scheduler a batch samples with: the base model's, or one of its compatibles on the same config
        (made once; the batch loop is the only caller)."""
        if not name:
            return self.base_scheduler
        if name not in self.samplers:
            cls = next(c for c in self.base_scheduler.compatibles if c.__name__ == name)
            self.samplers[name] = cls.from_config(self.base_scheduler.config)
        return self.samplers[name]

    def _load_adapters(self, batch: list[QueuedImage]) -> list[QueuedImage]:
        """Put each adapter of the batch in a slot; a failing one fails only its own images."""
        ids = list(dict.fromkeys(i.request.context.adapter_id for i in batch if i.request.context.adapter_id))
        failed: dict[str, Exception] = {}
        for adapter_id in ids:
            try:
                self.adapters.ensure(adapter_id, pinned=ids)
            except Exception as exc:
                failed[adapter_id] = exc
        for image in batch:
            if image.request.context.adapter_id in failed:
                image.request.on_result(image, failed[image.request.context.adapter_id])
        return [i for i in batch if i.request.context.adapter_id not in failed]

    def _reused_text_projections(self):
        # A compiled UNet keeps its graph instead: the reuse check is Python-side state.
        return contextlib.nullcontext() if self.settings.compile_unet else self.bank.reuse_text_projections()

    def _guidance_doubles_batch(self, guidance: float) -> bool:
        # Classifier-free guidance: diffusers doubles the UNet batch ([uncond, cond]) exactly when this holds.
        return guidance > 1.0 and self.pipe.unet.config.get("time_cond_proj_dim") is None


@contextlib.contextmanager
def _batch_spans(batch: list[QueuedImage]) -> Iterator[None]:
    """A "render.batch" span in the trace of every traced request in the batch (a batch serves many orders)."""
    requests = {image.request.id: image.request for image in batch if image.request.traceparent}
    if not requests or not tracing.enabled():
        yield
        return
    attributes = {
        "batch.images": len(batch),
        "batch.adapters": len({image.request.adapter_id for image in batch}),
    }
    spans = [
        tracing.tracer.start_span("render.batch", context=tracing.context_of(r.traceparent), attributes=attributes)
        for r in requests.values()
    ]
    try:
        yield
    finally:
        for span in spans:
            span.end()

"""The renderer's metrics.

The dispatcher is a plain process: prometheus_client, served on HEADSHOTS_METRICS_PORT. The replicas live in Ray
workers: their metrics go through Ray's own metrics export (ray.util.metrics, scraped from every Ray node's
metrics port; Ray prefixes the names with `ray_`). A replica samples its engine's counters every few seconds
rather than timing inside the batch loop, so the loop carries no metrics code.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from prometheus_client import Counter

log = logging.getLogger(__name__)

IMAGES_REJECTED = Counter(
    "renderer_images_rejected_total", "Rendered images not delivered, by the check they failed", ["reason"]
)
IMAGES_DELIVERED = Counter("renderer_images_delivered_total", "Rendered images delivered to orders")

BATCH_SIZE_BOUNDARIES = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]


class ReplicaMetrics:
    """Publishes a RenderEngine's counters as Ray metrics from a daemon thread (one per replica)."""

    def __init__(self, engine: Any, interval_s: float = 5.0):
        from ray.util.metrics import Counter as RayCounter, Gauge as RayGauge, Histogram as RayHistogram

        self.engine = engine
        self.interval_s = interval_s
        self.batch_size = RayHistogram(
            "renderer_batch_size", "Images per denoising batch, over every tenant in it", BATCH_SIZE_BOUNDARIES
        )
        self.queue_depth = RayGauge("renderer_queue_depth", "Images queued in the replica, not yet in a batch")
        self.images = RayCounter("renderer_images_rendered_total", "Images rendered by the replica")
        self.lookups = RayCounter(
            "renderer_adapter_lookups_total",
            "Adapter lookups per cache tier (device: a slot; host: host RAM), by result (hit or miss)",
            tag_keys=("tier", "result"),
        )
        self.evictions = RayCounter(
            "renderer_adapter_evictions_total", "Adapters dropped from a cache tier to make room", tag_keys=("tier",)
        )
        self.file_loads = RayCounter(
            "renderer_adapter_file_loads_total", "Adapters read from the blob store (cold loads)"
        )
        self.gpu_used = RayGauge("renderer_gpu_memory_used_bytes", "GPU memory in use (torch)", tag_keys=("device",))
        self.gpu_total = RayGauge("renderer_gpu_memory_total_bytes", "GPU memory of the device", tag_keys=("device",))
        self._seen: dict[str, int] = {}
        self._batches_seen = 0
        self._stop = threading.Event()

    def start(self) -> ReplicaMetrics:
        threading.Thread(target=self._run, name="replica-metrics", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sample()
            except Exception:  # a metric that cannot be read now is read at the next turn
                log.warning("sampling the replica's metrics failed", exc_info=True)

    def _inc(self, counter: Any, name: str, total: int, tags: dict[str, str] | None = None) -> None:
        """Counters from the engine's running totals: add what is new since the last sample."""
        delta = total - self._seen.get(name, 0)
        if delta > 0:
            counter.inc(delta, tags=tags)
        self._seen[name] = total

    def sample(self) -> None:
        engine = self.engine
        sizes = engine.batch_sizes
        for size in sizes[self._batches_seen :]:
            self.batch_size.observe(size)
        self._batches_seen = len(sizes)
        self.queue_depth.set(engine.scheduler.depth)
        self._inc(self.images, "images", engine.images_rendered)
        manager = engine.adapters
        for tier, cache in (("device", manager.slots), ("host", manager.cache)):
            self._inc(self.lookups, f"{tier}.hit", cache.hits, {"tier": tier, "result": "hit"})
            self._inc(self.lookups, f"{tier}.miss", cache.misses, {"tier": tier, "result": "miss"})
            self._inc(self.evictions, f"{tier}.evictions", cache.evictions, {"tier": tier})
        self._inc(self.file_loads, "file_loads", manager.file_loads)
        device = getattr(engine, "device", None)
        if device is not None and getattr(device, "type", "") == "cuda":
            import torch

            free, total = torch.cuda.mem_get_info(device)
            self.gpu_used.set(total - free, tags={"device": str(device)})
            self.gpu_total.set(total, tags={"device": str(device)})

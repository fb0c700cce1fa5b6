"""The request mixes the renderer benchmarks send, and the engine run they time in-process."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable
from pathlib import Path

STYLE_IDS = ("corporate-navy", "creative-sage", "executive-black", "friendly-white", "outdoor-bokeh", "tech-grey")


def _no_sync() -> None:
    pass


def _request(adapter_id: str, adapter_key: str, items: list, resolution: int):
    """One tenant's RenderRequest; resolution 0 renders at the base model's native size."""
    from headshots.v1 import renderer_service_pb2 as pb

    return pb.RenderRequest(
        subject_phrase="sks person",
        adapter=pb.AdapterRef(adapter_id=adapter_id, adapter_key=adapter_key),
        height=resolution,
        width=resolution,
        items=items,
    )


def _item(style_id: str, seed: int):
    from headshots.v1 import renderer_service_pb2 as pb

    return pb.RenderItem(style_id=style_id, seed=seed)


def render_requests(tenants: list[tuple[str, str]], seed0: int = 0, resolution: int = 0):
    """One single-image RenderRequest per (adapter id, blob key), in the given (arrival) order."""
    return [
        _request(aid, key, [_item(STYLE_IDS[i % len(STYLE_IDS)], seed0 + i)], resolution)
        for i, (aid, key) in enumerate(tenants)
    ]


def mix_requests(
    tenants: list[tuple[str, str]], images_per_request: int, requests_per_tenant: int, resolution: int = 0
):
    """Interleaved arrival (tenant 0..7, 0..7, ...), each request `images_per_request` images in rotating styles."""
    requests = []
    for round_ in range(requests_per_tenant):
        for t, (aid, key) in enumerate(tenants):
            seed0 = (round_ * len(tenants) + t) * images_per_request
            items = [_item(STYLE_IDS[(seed0 + i) % len(STYLE_IDS)], seed0 + i) for i in range(images_per_request)]
            requests.append(_request(aid, key, items, resolution))
    return requests


def pack_requests(tenants: list[tuple[str, str]], images: int = 40, styles: int = 4, resolution: int = 0):
    """One whole order pack per tenant, all arriving together: `images` images over its first `styles` styles."""
    return [
        _request(aid, key, [_item(STYLE_IDS[i % styles], t * images + i) for i in range(images)], resolution)
        for t, (aid, key) in enumerate(tenants)
    ]


def run_engine(engine, requests, sync: Callable[[], None] = _no_sync) -> float:
    """Submit every request at once (they arrive together) and wait for all images; seconds."""
    done: queue.Queue = queue.Queue()
    started = time.perf_counter()
    for request in requests:
        engine.submit(request, lambda task, result: done.put(result))
    for _ in range(sum(len(r.items) for r in requests)):
        result = done.get(timeout=3600)
        if isinstance(result, BaseException):
            raise result
    sync()
    return time.perf_counter() - started


def write_figures(figures: dict, out: Path | None) -> None:
    """The JSON that bench/run.py merges into docs/benchmarks.json."""
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2))
        print(f"wrote {out}")

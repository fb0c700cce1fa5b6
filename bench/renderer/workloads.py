"""The request mixes and the two ways of serving them that the renderer benchmarks compare."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable
from pathlib import Path

import torch

STYLE_IDS = ("corporate-navy", "creative-sage", "executive-black", "friendly-white", "outdoor-bokeh", "tech-grey")


def _no_sync() -> None:
    pass


def render_requests(tenants: list[tuple[str, str]], seed0: int = 0, resolution: int = 0):
    """One single-image RenderRequest per (adapter id, blob key), in the given (arrival) order.

    resolution 0 renders at the base model's native size.
    """
    from headshots.v1 import renderer_service_pb2 as pb

    return [
        pb.RenderRequest(
            subject_phrase="sks person",
            adapter=pb.AdapterRef(adapter_id=aid, adapter_key=key),
            height=resolution,
            width=resolution,
            items=[pb.RenderItem(style_id=STYLE_IDS[i % len(STYLE_IDS)], seed=seed0 + i)],
        )
        for i, (aid, key) in enumerate(tenants)
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


def run_sequential(pipe, blobs, requests, steps: int, guidance: float, sync: Callable[[], None] = _no_sync) -> float:
    """The pre-bank renderer: one request at a time, its adapter loaded with load_lora_weights, then deleted."""
    from headshots_common.styles import NEGATIVE_PROMPT, STYLES

    started = time.perf_counter()
    for request in requests:
        path = blobs.local_path(request.adapter.adapter_key)
        pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name="request")
        pipe.set_adapters(["request"], adapter_weights=[1.0])
        items = list(request.items)
        pipe(
            prompt=[STYLES[i.style_id].prompt("sks person") for i in items],
            negative_prompt=[NEGATIVE_PROMPT] * len(items),
            height=request.height or None,
            width=request.width or None,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=[torch.Generator().manual_seed(i.seed) for i in items],
        )
        pipe.delete_adapters("request")
    sync()
    return time.perf_counter() - started


def write_figures(figures: dict, out: Path | None) -> None:
    """The JSON that bench/run.py merges into docs/benchmarks.json."""
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2))
        print(f"wrote {out}")

"""Trainer benchmark: seconds per LoRA training step (batch 1 and 4) and minutes per order, on the tiny model.

    python bench/trainer/bench_training.py --out FILE [--quick]

Writes {"trainer.s_per_step_bs1": {"value", "unit", "note"}, ..., "_config": {...}} (read by bench/run.py).
A step's time is the median over the timed steps, after warm-up steps. Minutes per order is one whole
job as the worker runs it: face crops, latent and text caching, the standard profile's steps at batch 1,
saving the adapter and the likeness probes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "services" / "trainer"))
PHOTOS = sorted((REPO / "tests" / "fixtures" / "photos").glob("obama*.jpg"))

from headshots_tools.tinymodel import generate_tiny_base_model  # noqa: E402
from trainer.config import load  # noqa: E402
from trainer.training import TrainingControl, TrainingParams, load_pipeline, pick_device, probe_likeness, train_lora  # noqa: E402


def step_times(pipe, photos, out_dir: Path, steps: int, batch_size: int, rank: int) -> list[float]:
    stamps: list[float] = []
    params = TrainingParams(steps=steps, rank=rank, learning_rate=1e-3, batch_size=batch_size, resolution=0, seed=0)
    try:
        train_lora(
            pipe,
            photos,
            "a photo of sks person",
            out_dir,
            params,
            control=TrainingControl(progress=lambda *_: stamps.append(time.perf_counter())),
        )
    finally:
        pipe.unet.delete_adapters("default")
    return [b - a for a, b in zip(stamps, stamps[1:])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true", help="fewer timed steps (smoke run)")
    args = parser.parse_args()
    config = load()
    warmup, timed = (2, 8) if args.quick else (3, 25)
    device = pick_device(config.device)
    photos = [Image.open(p) for p in PHOTOS]
    with tempfile.TemporaryDirectory() as tmp:
        model = generate_tiny_base_model(Path(tmp) / "tiny-sd15", "sd15")
        pipe = load_pipeline(str(model), device)
        per_step = {}
        for batch_size in (1, 4):
            times = step_times(pipe, photos, Path(tmp) / f"bs{batch_size}", warmup + timed, batch_size, config.rank)
            per_step[batch_size] = statistics.median(times[warmup - 1 :])
        started = time.perf_counter()
        step_times(pipe, photos, Path(tmp) / "order", config.steps, config.batch_size, config.rank)
        # The probes need an attached adapter: score a fresh one (rendering cost does not depend on its weights).
        train_lora(
            pipe,
            photos[:1],
            "a photo of sks person",
            Path(tmp) / "probe",
            TrainingParams(steps=1, rank=config.rank, learning_rate=1e-3, batch_size=1, resolution=0, seed=0),
        )
        probe_started = time.perf_counter()
        probe_likeness(
            pipe, "professional headshot photo of sks person", photos, config.probe_images, config.probe_steps
        )
        probe_s = time.perf_counter() - probe_started
        pipe.unet.delete_adapters("default")
        order_s = (probe_started - started) + probe_s  # includes the one-step probe adapter: under a second
    where = f"tiny SD1.5-architecture model, {device.type}, 128 px, LoRA rank {config.rank}"
    figures = {
        "trainer.s_per_step_bs1": {
            "value": round(per_step[1], 4),
            "unit": "s",
            "note": f"median of {timed} steps after {warmup} warm-up, batch 1; {where}",
        },
        "trainer.s_per_step_bs4": {
            "value": round(per_step[4], 4),
            "unit": "s",
            "note": f"median of {timed} steps after {warmup} warm-up, batch 4; {where}",
        },
        "trainer.minutes_per_order": {
            "value": round(order_s / 60, 3),
            "unit": "min",
            "note": f"one job: {len(photos)} photos, {config.steps} steps at batch "
            f"{config.batch_size}, {config.probe_images} likeness probes of "
            f"{config.probe_steps} steps; {where}",
        },
        "_config": {
            "device": str(device),
            "steps_per_order": config.steps,
            "rank": config.rank,
            "warmup_steps": warmup,
            "timed_steps": timed,
            "photos": len(photos),
            "quick": args.quick,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
    }
    Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

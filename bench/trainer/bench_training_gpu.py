"""Trainer GPU benchmark: seconds per step and minutes per order for an SDXL-architecture base at 1024 px.

    python bench/trainer/bench_training_gpu.py --out FILE [--base-model ID_OR_PATH] [--photos N]
        [--steps N] [--resolution PX] [--device cuda|cuda:1|cpu] [--prior-preservation] [--train-text-encoder]

Runs what the worker runs for one standard-profile order, on the device: bf16 base weights, fp32 LoRA weights,
gradient checkpointing (train_lora enables both on CUDA), 8-bit AdamW when bitsandbytes is installed, face
crops of real photos from tests/fixtures/photos, latent and text caching, the steps, saving the adapter and
the likeness probes. Writes {"trainer.gpu_s_per_step": {...}, "trainer.gpu_minutes_per_order": {...},
"_config": {...}} like bench_training.py.

It needs CUDA and the base model's weights (a hub id needs the hub or its cache). `--device cpu` with a tiny
model (`python -m headshots_tools.tinymodel --arch sdxl --out DIR`) and `--resolution 128 --steps 3` runs the
same code path as a smoke test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "services" / "trainer"))
PHOTO_DIR = REPO / "tests" / "fixtures" / "photos"
PERSON_PHOTOS = ["obama.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg"]
DEFAULT_BASE_MODEL = "stabilityai/stable-diffusion-xl-base-1.0"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="where to write the JSON figures")
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL, help="SDXL-architecture hub id or local folder")
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for a smoke run")
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=0, help="0: the standard profile's steps (HEADSHOTS_TRAIN_STEPS)")
    parser.add_argument("--warmup", type=int, default=3, help="steps left out of the per-step median")
    parser.add_argument("--photos", type=int, default=5, help="face photos to train on (5-20; the fixtures cycle)")
    parser.add_argument(
        "--prior-preservation",
        action="store_true",
        help="train with class images (generated first, timed separately: a one-off per class)",
    )
    parser.add_argument("--num-class-images", type=int, default=0, help="0: HEADSHOTS_TRAIN_NUM_CLASS_IMAGES")
    parser.add_argument("--train-text-encoder", action="store_true", help="LoRA on both text encoders too")
    args = parser.parse_args(argv)
    if not 1 <= args.photos <= 20:
        parser.error("--photos must be between 1 and 20")
    return args


def device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    from PIL import Image

    from headshots.v1 import common_pb2
    from trainer.config import load
    from trainer.priors import class_prompt, generate_class_images
    from trainer.training import (
        PriorData,
        TrainingControl,
        TrainingParams,
        is_sdxl,
        load_pipeline,
        probe_likeness,
        remove_adapters,
        train_lora,
    )

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(
            f"bench_training_gpu: --device {args.device} but CUDA is not available on this machine "
            f"(torch {torch.__version__}); run it on a GPU, or pass --device cpu with a tiny model for a smoke run",
            file=sys.stderr,
        )
        return 2
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
    gpu = device_name(device)
    print(f"device: {device} ({gpu})", flush=True)

    config = load()
    steps, batch_size = config.steps_and_batch(common_pb2.TRAINING_PROFILE_STANDARD)
    steps = args.steps or steps
    photos = [Image.open(PHOTO_DIR / PERSON_PHOTOS[i % len(PERSON_PHOTOS)]) for i in range(args.photos)]

    loaded = time.perf_counter()
    pipe = load_pipeline(args.base_model, device)
    load_s = time.perf_counter() - loaded
    if not is_sdxl(pipe):
        print(f"note: {args.base_model} is not an SDXL-architecture model", file=sys.stderr)

    prior, class_s = None, 0.0
    if args.prior_preservation:
        count = args.num_class_images or config.num_class_images
        started = time.perf_counter()
        images = []
        for start in range(0, count, 4):
            images += generate_class_images(
                pipe,
                class_prompt("person"),
                list(range(start, min(count, start + 4))),
                args.resolution,
                config.class_image_steps,
            )
        class_s = time.perf_counter() - started
        prior = PriorData(images=images, prompt=class_prompt("person"))

    params = TrainingParams(
        steps=steps,
        rank=config.rank,
        learning_rate=config.learning_rate,
        batch_size=batch_size,
        resolution=args.resolution,
        seed=config.seed,
        prior_loss_weight=config.prior_loss_weight,
        train_text_encoder=args.train_text_encoder,
        augment_variants=config.augment_variants,
    )
    stamps: list[float] = []

    def stamp(*_):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        stamps.append(time.perf_counter())

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        try:
            result = train_lora(
                pipe,
                photos,
                "a photo of sks person",
                Path(tmp),
                params,
                control=TrainingControl(progress=stamp),
                prior=prior,
            )
            probe_started = time.perf_counter()
            quality = probe_likeness(
                pipe,
                "professional headshot photo of sks person",
                photos,
                config.probe_images,
                config.probe_steps,
                seed=config.seed,
            )
            probe_s = time.perf_counter() - probe_started
        finally:
            remove_adapters(pipe)
        order_s = time.perf_counter() - started
    # Step i's time is stamps[i] - stamps[i-1]; the first step (stamps[0]) has no start stamp and is warm-up anyway.
    times = [b - a for a, b in zip(stamps, stamps[1:])]
    timed = times[max(0, args.warmup - 1) :] or times
    per_step = statistics.median(timed) if timed else float("nan")
    peak_gib = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None

    where = (
        f"{args.base_model} on {gpu}, {args.resolution} px, bf16 base + fp32 LoRA rank {config.rank}, "
        f"batch {batch_size}"
        + (", gradient checkpointing" if device.type == "cuda" else "")
        + (", prior preservation" if prior else "")
        + (", text-encoder LoRA" if args.train_text_encoder else "")
    )
    figures = {
        "trainer.gpu_s_per_step": {
            "value": round(per_step, 4),
            "unit": "s",
            "note": f"median of {len(timed)} steps after {args.warmup} warm-up; {where}",
        },
        "trainer.gpu_minutes_per_order": {
            "value": round(order_s / 60, 3),
            "unit": "min",
            "note": f"one standard-profile job: {len(photos)} photos, {steps} steps, face crops, latent and text "
            f"caching, adapter saved, {config.probe_images} likeness probes of {config.probe_steps} steps; "
            f"model loading and class-image generation excluded; {where}",
        },
        "_config": {
            "device": str(device),
            "gpu": gpu,
            "base_model": args.base_model,
            "sdxl": is_sdxl(pipe),
            "resolution": args.resolution,
            "steps": steps,
            "batch_size": batch_size,
            "rank": config.rank,
            "photos": len(photos),
            "augment_variants": config.augment_variants,
            "prior_preservation": bool(prior),
            "class_images": len(prior.images) if prior else 0,
            "class_images_s": round(class_s, 2),
            "train_text_encoder": args.train_text_encoder,
            "load_s": round(load_s, 2),
            "probe_s": round(probe_s, 2),
            "final_loss": result.final_loss,
            "likeness": quality["likeness"],
            "peak_gpu_memory_gib": peak_gib and round(peak_gib, 2),
            "torch": torch.__version__,
        },
    }
    Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Trainer GPU benchmark: seconds per step, seconds per job and minutes per order, SDXL at 1024 px, 500 steps.

    python bench/trainer/bench_training_gpu.py --out FILE [--base-model ID_OR_PATH] [--steps N] [--resolution PX]
        [--photos N] [--device cuda|cuda:N] [--no-compile] [--train-text-encoder] [--dry-run] [--quick]

It runs the worker's engine (trainer.training.TrainingEngine) as a worker runs it on a GPU: bf16 base weights
and fp32 LoRA weights, TF32 matmuls, SDPA attention, channels_last, the UNet compiled once per worker
(`compile_by_default`), fused AdamW (there is no 8-bit optimizer branch), no gradient checkpointing (the
out-of-memory retry's first resort, not a default). Parameters are the standard profile's (`training_params`)
with the steps and resolution given here. Photos are the fixtures', with the face boxes found once beforehand
(the photo checker's work, not the job's).

1. A first job of `--warmup-job-steps` steps pays for compiling (timed: `first_job_s`).
2. The measured job on the warm engine: crops, latents, the steps (each one's end stamped after a device sync),
   the adapter saved (`trainer.gpu_job_s`), then the likeness probes (`probe_s`).
Figures: `trainer.gpu_s_per_step` (median after `--warmup` steps), `trainer.gpu_job_s` and
`trainer.minutes_per_order` (the job and its probes: the GPU time an order costs; model loading excluded, once
per worker). bench/run.py runs it when CUDA is present.

`--dry-run` checks everything but the GPU on a CPU in seconds: a tiny model (the one given by --base-model,
else a tiny SDXL generated on the spot), 64 px, 3 steps, 1 photo, 1 probe of 1 step, no compile; its figures
are marked `dry_run` and mean nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "services" / "trainer"))
PHOTO_DIR = REPO / "tests" / "fixtures" / "people" / "franck"
DEFAULT_BASE_MODEL = "stabilityai/stable-diffusion-xl-base-1.0"
PROMPT = "a photo of sks person"
PROBE_PROMPT = "professional headshot photo of sks person"
DRY_RUN = {"resolution": 64, "steps": 3, "warmup": 1, "warmup_job_steps": 2, "photos": 1}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="where to write the JSON figures")
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL, help="SDXL-architecture hub id or local folder")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cuda:N")
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=500, help="the measured job's steps")
    parser.add_argument("--warmup", type=int, default=5, help="steps left out of the per-step median")
    parser.add_argument("--warmup-job-steps", type=int, default=10, help="the first (compiling) job's steps")
    parser.add_argument("--photos", type=int, default=5, help="face photos to train on (1-20; the fixtures cycle)")
    parser.add_argument("--no-compile", action="store_true", help="leave the UNet eager")
    parser.add_argument("--train-text-encoder", action="store_true", help="LoRA on both text encoders too")
    parser.add_argument("--dry-run", action="store_true", help="everything but the GPU, on a CPU, in seconds")
    parser.add_argument("--quick", action="store_true", help="a 50-step job (make bench --quick)")
    args = parser.parse_args(argv)
    if not 1 <= args.photos <= 20:
        parser.error("--photos must be between 1 and 20")
    if args.quick:
        args.steps, args.warmup_job_steps = min(args.steps, 50), min(args.warmup_job_steps, 5)
    if args.dry_run:
        args.device = "cpu"
        args.no_compile = True
        for name, value in DRY_RUN.items():
            setattr(args, name, value)
    return args


def face_photos(count: int):
    """`count` fixture selfies (cycling), each with its face box found once, as the photo checker stores it."""
    from PIL import Image

    from trainer.photos import locate_faces

    paths = sorted(PHOTO_DIR.glob("*.jpg"))
    return locate_faces([Image.open(paths[i % len(paths)]).convert("RGB") for i in range(count)])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from headshots.v1 import common_pb2
    from trainer.config import load
    from trainer.training import TrainingControl, TrainingEngine, is_sdxl, load_pipeline, training_params

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(
            f"bench_training_gpu: --device {args.device} but CUDA is not available on this machine "
            f"(torch {torch.__version__}); run it on a GPU, or pass --dry-run for the CPU check",
            file=sys.stderr,
        )
        return 2
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device: {device} ({gpu})", flush=True)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    config = load()
    probe_images, probe_steps = (1, 1) if args.dry_run else (config.probe_images, config.probe_steps)
    params = dataclasses.replace(
        training_params(config, common_pb2.TRAINING_PROFILE_STANDARD),
        steps=args.steps,
        resolution=args.resolution,
        train_text_encoder=args.train_text_encoder,
    )
    photos = face_photos(args.photos)

    with tempfile.TemporaryDirectory() as tmp:
        base_model = args.base_model
        if args.dry_run and base_model == DEFAULT_BASE_MODEL:
            from headshots_tools.tinymodel import generate_tiny_base_model

            base_model = str(generate_tiny_base_model(Path(tmp) / "tiny-sdxl", "sdxl"))
        loaded = time.perf_counter()
        engine = TrainingEngine(load_pipeline(base_model, device), compile=not args.no_compile)
        sync()
        load_s = time.perf_counter() - loaded
        if not is_sdxl(engine.pipe):
            print(f"note: {base_model} is not an SDXL-architecture model", file=sys.stderr)

        # 1. The worker's first job: compiles the UNet (once per worker process).
        started = time.perf_counter()
        first = dataclasses.replace(params, steps=args.warmup_job_steps)
        try:
            engine.train(photos, PROMPT, Path(tmp) / "first", first)
        finally:
            engine.detach()
        sync()
        first_job_s = time.perf_counter() - started

        # 2. The measured job on the warm engine, then its likeness probes.
        stamps: list[float] = []

        def stamp(step: int, total: int, loss: float, eta_s: float) -> None:
            sync()
            stamps.append(time.perf_counter())
            if step % 50 == 0 or step == total:
                print(f"step {step}/{total}, loss {loss:.4f}, about {eta_s:.0f} s left", flush=True)

        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        started = time.perf_counter()
        try:
            result = engine.train(photos, PROMPT, Path(tmp) / "job", params, TrainingControl(progress=stamp))
            sync()
            job_s = time.perf_counter() - started
            quality = engine.probe_likeness(PROBE_PROMPT, photos, probe_images, probe_steps, seed=config.seed)
            sync()
            order_s = time.perf_counter() - started
        finally:
            engine.detach()
        peak_gib = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
        sdxl = is_sdxl(engine.pipe)

    # Step i's time is stamps[i] - stamps[i-1]: the first step has no start stamp and is warm-up anyway.
    times = [b - a for a, b in zip(stamps, stamps[1:])]
    timed = times[max(0, args.warmup - 1) :] or times
    per_step = statistics.median(timed)
    where = (
        f"{base_model} on {gpu}, {args.resolution} px, bf16 base + fp32 LoRA rank {params.rank}, batch "
        f"{params.batch_size}, {len(photos)} photos, {'compiled' if engine.compile else 'eager'} UNet, TF32, SDPA, "
        f"channels_last, fused AdamW, no gradient checkpointing"
        + (", text-encoder LoRA" if args.train_text_encoder else "")
        + ("; DRY RUN on a CPU: not a GPU figure" if args.dry_run else "")
    )
    figures = {
        "trainer.gpu_s_per_step": {
            "value": round(per_step, 4),
            "unit": "s",
            "note": f"median of {len(timed)} steps after {args.warmup} warm-up, on a warm worker; {where}",
        },
        "trainer.gpu_job_s": {
            "value": round(job_s, 1),
            "unit": "s",
            "note": f"a job on a warm worker: face crops, latents, {params.steps} steps, adapter saved; {where}",
        },
        "trainer.minutes_per_order": {
            "value": round(order_s / 60, 3),
            "unit": "min",
            "note": f"the GPU time of one order on a warm worker: the job ({params.steps} steps) and "
            f"{probe_images} likeness probes of {probe_steps} steps; model loading ({load_s:.0f} s) and the "
            f"first job's compiling ({first_job_s:.0f} s for {first.steps} steps) are once per worker; {where}",
        },
        "_config": {
            "device": str(device),
            "gpu": gpu,
            "base_model": base_model,
            "sdxl": sdxl,
            "resolution": args.resolution,
            "steps": params.steps,
            "batch_size": params.batch_size,
            "rank": params.rank,
            "photos": len(photos),
            "augment_variants": params.augment_variants,
            "train_text_encoder": args.train_text_encoder,
            "compile": engine.compile,
            "load_s": round(load_s, 2),
            "first_job_s": round(first_job_s, 2),
            "probe_s": round(order_s - job_s, 2),
            "final_loss": result.final_loss,
            "likeness": quality["likeness"],
            "peak_gpu_memory_gib": peak_gib and round(peak_gib, 2),
            "dry_run": args.dry_run,
            "torch": torch.__version__,
        },
    }
    Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

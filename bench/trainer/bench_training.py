"""Trainer benchmark: our training beside the DreamBooth LoRA example's, side by side in one run, tiny model.

    python bench/trainer/bench_training.py --out FILE [--quick] [--rounds N] [--threads N] [--clock wall|cpu]

The baseline is `dreambooth_reference.py`: a faithful re-implementation of the per-step work of diffusers'
`examples/dreambooth/train_dreambooth_lora.py` (VAE encode and text encode of the batch every step, plain AdamW,
a peft adapter), fed the same ready-made face crops, with the same model, rank, learning rate, steps and seed.
Both sides run on the main thread with the same torch thread count (the worker's: the CPU quota) and the same
warm-up, in paired rounds: each round times every case on both sides, the side that goes first alternating from
round to round, so that other work on the machine weighs on both; a figure is the median over rounds of the
round's ratio. `--clock cpu` with `--threads 1` (or HEADSHOTS_BENCH_TRAINER_CLOCK=cpu, HEADSHOTS_TRAIN_THREADS=1
under `make bench`) counts CPU seconds instead of wall seconds: the work each side does, which other work on a
shared machine does not stretch.

Figures (bench/run.py merges them into docs/benchmarks.json):
  trainer.step_over_reference_bs1[_64px], trainer.step_over_reference_bs4[_64px]
      our median step time over the reference's, at 128 px (the tiny model's size) and at 64 px;
  trainer.warm_job_over_reference
      a job on an engine that has run one before (photos read with their stored face boxes, crops, latents,
      the standard profile's steps, the adapter stored: first_job.run_job) over the reference's whole job (its
      process started, models loaded, trained, adapter saved: how the script always runs);
  trainer.cold_job_over_reference
      a fresh worker process's first job (first_job.py: process start to adapter stored) over the same;
  trainer.s_per_step_bs1, trainer.s_per_step_bs4, trainer.minutes_per_order
      our step at 128 px, batch 1 and 4, and one order on a warm worker (the job and its likeness probes): the
      figures measured since the trainer was first built (the GPU benchmark writes minutes_per_order on a GPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO / "services" / "trainer"))
sys.path.insert(0, str(HERE))

from dreambooth_reference import ReferenceRun  # noqa: E402
from first_job import PROMPT, run_job  # noqa: E402

from headshots.v1 import common_pb2  # noqa: E402
from headshots_common import blob_layout, photo_analysis  # noqa: E402
from headshots_common.basemodel import native_resolution  # noqa: E402
from headshots_common.blobstore import open_blob_store  # noqa: E402
from headshots_common.faces import face_analyzer  # noqa: E402
from headshots_tools.demo import DEMO_PHOTOS  # noqa: E402
from headshots_tools.tinymodel import generate_tiny_base_model  # noqa: E402
from trainer.config import load  # noqa: E402
from trainer.photos import face_crops, load_photos  # noqa: E402
from trainer.threads import torch_threads  # noqa: E402
from trainer.training import (  # noqa: E402
    TrainingControl,
    TrainingEngine,
    TrainingParams,
    _batch,
    load_pipeline,
    training_params,
)

ORDER_ID = "bench-order"
# What a figure's seconds are: "wall" (time.perf_counter; subprocesses from start to exit) or "cpu" (this
# process's CPU time, time.process_time; a subprocess's from getrusage). With one torch thread, CPU time is the
# work done, which other work on a shared machine does not stretch; with more, OpenMP's waiting counts too.
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter
CASES = [(1, 128), (1, 64), (4, 128), (4, 64)]  # (batch size, resolution)


def figure_name(batch: int, resolution: int, native: int) -> str:
    return f"trainer.step_over_reference_bs{batch}" + ("" if resolution == native else f"_{resolution}px")


def timed_steps(stamps: list[float], warmup: int) -> float:
    """The median step time after `warmup` steps, from the end-of-step clock stamps."""
    times = [b - a for a, b in zip(stamps, stamps[1:])]
    return statistics.median(times[warmup - 1 :])


def our_step(engine: TrainingEngine, photos, params: TrainingParams, out_dir: Path, warmup: int) -> float:
    stamps: list[float] = []
    control = TrainingControl(progress=lambda *_: stamps.append(clock()))
    try:
        engine.train(photos, PROMPT, out_dir, params, control)
    finally:
        engine.detach()
    return timed_steps(stamps, warmup)


def unet_floor(engine: TrainingEngine, params: TrainingParams, warmup: int) -> float:
    """The median time of the UNet's forward and backward alone, with the LoRA on: the part of a step that both
    sides run alike, so no loop that trains the same UNet can take a smaller share of the reference's step."""
    unet_lora, _ = engine._lora_for(params)
    unet_lora.enable()
    size = params.resolution // engine.pipe.vae_scale_factor
    noisy = torch.randn(params.batch_size, engine.pipe.unet.config.in_channels, size, size)
    timesteps = torch.randint(0, 1000, (params.batch_size,))
    conditioning = _batch(engine.conditioning(PROMPT, params.resolution), params.batch_size)
    stamps = []
    try:
        for _ in range(params.steps):
            prediction = engine.pipe.unet(noisy, timesteps, **conditioning).sample
            torch.nn.functional.mse_loss(prediction, noisy).backward()
            stamps.append(clock())
    finally:
        engine.detach()
        for p in unet_lora.parameters():
            p.grad = None
    return timed_steps(stamps, warmup)


def reference_step(model: Path, crops_dir: Path, params: TrainingParams, warmup: int) -> float:
    run = ReferenceRun(
        model,
        crops_dir,
        PROMPT,
        rank=params.rank,
        learning_rate=params.learning_rate,
        batch_size=params.batch_size,
        resolution=params.resolution,
        seed=params.seed,
    )
    stamps: list[float] = []
    run.train(params.steps, on_step=lambda *_: stamps.append(clock()))
    return timed_steps(stamps, warmup)


def store_order(blobs, photos: list[Path]) -> list[str]:
    """The order's photos in the blob store, each with the analysis the photo checker stores beside it."""
    analyzer, keys = face_analyzer(), []
    for i, path in enumerate(photos):
        data = path.read_bytes()
        key = blobs.put(blob_layout.photo_key(ORDER_ID, str(i)), data)
        image = Image.open(io.BytesIO(data)).convert("RGB")
        face = max(analyzer.find_faces(image), key=lambda f: f.width * f.height)
        embedding = analyzer.analyse(image, face).embedding
        blobs.put(blob_layout.photo_analysis_key(key), photo_analysis.encode(face, embedding, *image.size))
        keys.append(key)
    return keys


def write_crops(photos, resolution: int, folder: Path) -> Path:
    """The ready-made face crops the reference is fed: the crops our engine trains on."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, crop in enumerate(face_crops(photos, resolution)):
        crop.save(folder / f"{i}.png")
    return folder


def children_cpu_s() -> float:
    """CPU seconds (user and system) of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class Progress:
    """Rounds done, elapsed and an estimate of the time left, on stderr."""

    def __init__(self, total: int):
        self.total, self.started, self.done = total, time.monotonic(), 0

    def round_done(self, what: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done)
        print(f"round {self.done}/{self.total} {what}; {elapsed:.0f} s, about {eta:.0f} s left", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps (smoke run)")
    parser.add_argument("--rounds", type=int, default=0, help="paired rounds (default 5; 2 with --quick)")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads on both sides; 0: HEADSHOTS_TRAIN_THREADS or the CPU quota",
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default=os.environ.get("HEADSHOTS_BENCH_TRAINER_CLOCK", "wall"),
        help="wall seconds, or CPU seconds (with --threads 1: the work, whatever else the machine runs); "
        "default HEADSHOTS_BENCH_TRAINER_CLOCK or wall",
    )
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    rounds = args.rounds or (2 if args.quick else 5)
    warmup, timed = (2, 6) if args.quick else (3, 20)
    config = load()
    threads = args.threads or torch_threads(config.threads)
    torch.set_num_threads(threads)
    load_before = load_average()
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model = generate_tiny_base_model(tmp / "tiny-sd15", "sd15")
        blobs_url = f"file://{tmp / 'blobs'}"
        blobs = open_blob_store(blobs_url)
        keys = store_order(blobs, DEMO_PHOTOS)
        engine = TrainingEngine(load_pipeline(str(model), torch.device("cpu")))
        native = native_resolution(engine.pipe)
        photos = load_photos(blobs, keys)
        job_params = training_params(config, common_pb2.TRAINING_PROFILE_STANDARD)
        crops = {res: write_crops(photos, res, tmp / f"crops-{res}") for res in {native, *(r for _, r in CASES)}}

        def case_params(batch: int, resolution: int, steps: int) -> TrainingParams:
            return dataclasses.replace(job_params, steps=steps, batch_size=batch, resolution=resolution)

        reference_job = [
            python,
            str(HERE / "dreambooth_reference.py"),
            f"--model={model}",
            f"--instance-dir={crops[native]}",
            f"--out={tmp / 'reference-adapter'}",
            f"--steps={job_params.steps}",
            f"--rank={job_params.rank}",
            f"--learning-rate={job_params.learning_rate}",
            f"--batch-size={job_params.batch_size}",
            f"--resolution={native}",
            f"--seed={job_params.seed}",
            f"--threads={threads}",
        ]
        cold_job = [
            python,
            str(HERE / "first_job.py"),
            f"--model={model}",
            f"--blobs={blobs_url}",
            f"--order={ORDER_ID}",
            f"--photos={len(keys)}",
            f"--threads={threads}",
        ]
        # The same warm-up on both sides before round 1: every case once, and one job (an engine that has run a
        # job before is what the warm figure is about).
        for batch, resolution in CASES:
            our_step(engine, photos, case_params(batch, resolution, warmup + 2), tmp / "warmup", warmup)
            reference_step(model, crops[resolution], case_params(batch, resolution, warmup + 2), warmup)
        probes = (config.probe_images, config.probe_steps)
        run_job(engine, blobs, keys, ORDER_ID, job_params, probes)

        ours: dict[tuple[int, int], list[float]] = {case: [] for case in CASES}
        theirs: dict[tuple[int, int], list[float]] = {case: [] for case in CASES}
        floor: dict[tuple[int, int], list[float]] = {case: [] for case in CASES}
        warm_s: list[float] = []
        order_s: list[float] = []  # the warm job and its likeness probes: what an order costs a warm worker
        cold_s: list[float] = []
        reference_s: list[float] = []
        progress = Progress(rounds)
        for round_index in range(rounds):
            ours_first = round_index % 2 == 0
            for case in CASES:
                params = case_params(*case, warmup + timed)
                sides = [
                    functools.partial(our_step, engine, photos, params, tmp / "steps", warmup),
                    functools.partial(reference_step, model, crops[case[1]], params, warmup),
                ]
                for side, times in [(sides[0], ours[case]), (sides[1], theirs[case])][:: 1 if ours_first else -1]:
                    times.append(side())
                floor[case].append(unet_floor(engine, params, warmup))

            def warm() -> None:
                started = clock()
                stored = run_job(engine, blobs, keys, ORDER_ID, job_params, probes, clock)
                warm_s.append(stored - started)
                order_s.append(clock() - started)

            def process(cmd: list[str], times: list[float]) -> None:
                started, children = time.perf_counter(), children_cpu_s()
                subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
                wall = time.perf_counter() - started
                times.append(children_cpu_s() - children if args.clock == "cpu" else wall)

            jobs = [
                warm,
                functools.partial(process, cold_job, cold_s),
                functools.partial(process, reference_job, reference_s),
            ]
            for job in jobs if ours_first else jobs[::-1]:
                job()
            progress.round_done(
                f"(step bs1 {ours[(1, native)][-1] * 1e3:.1f} vs {theirs[(1, native)][-1] * 1e3:.1f} ms; "
                f"jobs warm {warm_s[-1]:.1f}, cold {cold_s[-1]:.1f}, reference {reference_s[-1]:.1f} s)"
            )

    def ratio(mine: list[float], reference: list[float]) -> float:
        return round(statistics.median(a / b for a, b in zip(mine, reference, strict=True)), 3)

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1e3:.1f} ms"

    shared = (
        f"median of {rounds} paired rounds (the side going first alternates); {args.clock} seconds; tiny "
        f"SD1.5-architecture model, cpu, {threads} torch threads on the main thread each, LoRA rank "
        f"{job_params.rank}; a shared machine under other "
        f"work (load average {load_before} before, {load_average()} after)"
    )
    baseline = "dreambooth_reference.py (diffusers' train_dreambooth_lora.py per-step work re-implemented)"
    figures: dict = {}
    for batch, resolution in CASES:
        mine, reference = ours[(batch, resolution)], theirs[(batch, resolution)]
        figures[figure_name(batch, resolution, native)] = {
            "value": ratio(mine, reference),
            "unit": "ratio",
            "note": f"our step over {baseline}'s at batch {batch}, {resolution} px: {ms(mine)} vs {ms(reference)} "
            f"(each the median of {timed} steps after {warmup} warm-up); the UNet's forward and backward alone, "
            f"which both sides run: {ms(floor[(batch, resolution)])}, {ratio(floor[(batch, resolution)], reference)} "
            f"of the reference's step (the least any loop training the same UNet can reach); {shared}",
        }
    job = (
        f"{len(keys)} photos with stored face boxes, {job_params.steps} steps at batch {job_params.batch_size}, "
        f"{native} px, {job_params.augment_variants} augmented crops per photo, to the adapter stored"
    )
    figures["trainer.warm_job_over_reference"] = {
        "value": ratio(warm_s, reference_s),
        "unit": "ratio",
        "note": f"a job on a worker that has run one before ({job}: {statistics.median(warm_s):.2f} s) over the "
        f"reference's whole job (process start to adapter saved: {statistics.median(reference_s):.2f} s); {shared}",
    }
    figures["trainer.cold_job_over_reference"] = {
        "value": ratio(cold_s, reference_s),
        "unit": "ratio",
        "note": f"a fresh worker process's first job (process start, pipeline loaded, {job}: "
        f"{statistics.median(cold_s):.2f} s) over the reference's whole job "
        f"({statistics.median(reference_s):.2f} s); {shared}",
    }
    figures["trainer.minutes_per_order"] = {
        "value": round(statistics.median(order_s) / 60, 3),
        "unit": "min",
        "note": f"one order on a warm worker: the job ({job}) and {probes[0]} likeness probes of {probes[1]} steps; "
        f"{shared}; on a CUDA machine the GPU benchmark (trainer_gpu) writes this key for SDXL at 1024 px",
    }
    for batch in (1, 4):
        figures[f"trainer.s_per_step_bs{batch}"] = {
            "value": round(statistics.median(ours[(batch, native)]), 4),
            "unit": "s",
            "note": f"our step at batch {batch}, {native} px: median over rounds of the median of {timed} steps "
            f"after {warmup} warm-up; {shared}",
        }
    figures["_config"] = {
        "baseline": baseline,
        "device": "cpu",
        "clock": args.clock,
        "threads": threads,
        "rounds": rounds,
        "warmup_steps": warmup,
        "timed_steps": timed,
        "job_steps": job_params.steps,
        "rank": job_params.rank,
        "learning_rate": job_params.learning_rate,
        "photos": len(keys),
        "warm_job_s": [round(s, 2) for s in warm_s],
        "warm_order_s": [round(s, 2) for s in order_s],
        "cold_job_s": [round(s, 2) for s in cold_s],
        "reference_job_s": [round(s, 2) for s in reference_s],
        "load_average": [load_before, load_average()],
        "quick": args.quick,
        "torch": torch.__version__,
    }
    Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One order's training as a trainer worker runs it, to the adapter stored: the job of the trainer benchmark.

    python bench/trainer/first_job.py --model DIR --blobs file:///DIR --order ID --photos N [--threads N]

Run as a process, it is a fresh worker's first job, timed by bench_training.py from process start to exit:
the imports, the pipeline loaded, the engine built, the order's photos read from the blob store with the face
boxes the photo checker stored beside them, the LoRA trained with the standard profile's parameters
(`training_params`), the adapter stored. `run_job` is the same job on a warm engine (bench_training.py's warm
figure), with the likeness probes after the adapter is stored: the job figures stop the clock before them (the
reference script renders nothing before its adapter is saved), the minutes per order include them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "services" / "trainer"))

PROMPT = "a photo of sks person"  # the worker's instance prompt for the subject class "person"
PROBE_PROMPT = "professional headshot photo of sks person"


def run_job(
    engine,
    blobs,
    photo_keys: list[str],
    order_id: str,
    params,
    probes: tuple[int, int] = (0, 0),
    clock=time.perf_counter,
) -> float:
    """Train the order's adapter on the engine and store it (as trainer.training_run does), then render
    `probes` (images, steps) likeness probes with it; returns `clock()` when the adapter was stored."""
    from headshots_common import blob_layout
    from trainer.photos import load_photos, locate_faces

    photos = locate_faces(load_photos(blobs, photo_keys))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            result = engine.train(photos, PROMPT, Path(tmp), params)
            blobs.put(blob_layout.adapter_key(order_id, 1), result.adapter_path.read_bytes())
            stored = clock()
            images, steps = probes
            engine.probe_likeness(PROBE_PROMPT, photos, images, steps, seed=params.seed)
        finally:
            engine.detach()
    return stored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--blobs", required=True, help="blob store URL holding the order's photos and analyses")
    parser.add_argument("--order", required=True)
    parser.add_argument("--photos", type=int, required=True)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0: the CPU quota, as a worker")
    args = parser.parse_args(argv)

    import torch

    from headshots.v1 import common_pb2
    from headshots_common import blob_layout
    from headshots_common.blobstore import open_blob_store
    from trainer.config import load
    from trainer.threads import torch_threads
    from trainer.training import TrainingEngine, compile_by_default, load_pipeline, pick_device, training_params

    config = load()
    torch.set_num_threads(torch_threads(args.threads or config.threads))
    device = pick_device(config.device)
    engine = TrainingEngine(load_pipeline(args.model, device), compile=compile_by_default(device))
    keys = [blob_layout.photo_key(args.order, str(i)) for i in range(args.photos)]
    params = training_params(config, common_pb2.TRAINING_PROFILE_STANDARD)
    run_job(engine, open_blob_store(args.blobs), keys, args.order, params)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

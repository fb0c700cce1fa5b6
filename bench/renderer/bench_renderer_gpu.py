"""GPU benchmark of the renderer's mixed-LoRA path on a real-size base model (SDXL at 1024 px by default).

Loads `--base-model` (a local diffusers folder or a hub id, e.g. stabilityai/stable-diffusion-xl-base-1.0)
in fp16 (or `--dtype bf16`), synthesises 8 tenants' LoRA adapters of ranks 8-32 shaped to that UNet's
attention projections (random weights; nothing but the base model is read), and measures, in one run:

  renderer.gpu.mixed_over_nolora           one UNet forward at --resolution, 8 tenants x CFG (batch 16), every
                                           tenant on its own adapter slot / the same batch with no LoRA
  renderer.gpu.throughput_over_resident_diffusers{,_4img,_packs}
                                           images/s of the renderer through Ray Serve's gRPC proxy over diffusers
                                           with all 8 adapters resident (set_adapters or hotswap, the faster), one
                                           request at a time, in-process, on the main thread or a worker thread (the
                                           faster; both reported); 8 tenants interleaved, 1 and 4 images per
                                           request and whole order packs (--pack-images over 4 styles)
  renderer.gpu.p95_over_resident_diffusers_4img
                                           the renderer's p95 request latency over diffusers', 4 images per request
  renderer.gpu.throughput_over_ray_multiplexed
                                           the renderer over Ray Serve's @serve.multiplexed + @serve.batch idiom,
                                           both through the same gRPC proxy and client
  renderer.gpu.images_per_s                the renderer's images/s on this one GPU at 1 image per request, with its
                                           p95 latency at that load (8 concurrent clients) in the note

The renderer and the multiplexed baseline each get a share of the one GPU (--replica-gpus, 0.45 so both fit);
resident diffusers runs in this process on the same GPU. Runs alternate between the sides.
and prints the GPU's name and the attention processors in use (diffusers' default on torch 2 is
AttnProcessor2_0 = F.scaled_dot_product_attention). `--compile` also compiles the engine's UNet
(HEADSHOTS_RENDER_COMPILE in the service); compile time is reported apart, not in the throughput.

It needs CUDA and says so otherwise; `--device cpu` runs it anyway (a smoke test: with the tiny model,
`--device cpu --base-model <tiny folder> --resolution 128 --steps 2`).

Usage:  python bench/renderer/bench_renderer_gpu.py --base-model PATH_OR_HUB_ID [--dtype bf16]
            [--resolution 1024] [--steps 20] [--requests-per-tenant 2] [--pack-images 40] [--compile]
            [--out results.json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

RANKS = (8, 16, 32, 16, 8, 32, 16, 8)  # 8 tenants, ranks 8-32


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-model", required=True, help="diffusers model folder or hub id (SDXL or SD1.5)")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (smoke test only)")
    parser.add_argument("--dtype", default="auto", help="auto (fp16 on CUDA, fp32 on CPU), fp16, bf16, fp32")
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=5.0)
    parser.add_argument("--requests-per-tenant", type=int, default=2, help="requests per tenant in the 1/4-image mixes")
    parser.add_argument("--pack-images", type=int, default=40, help="images in each tenant's order pack")
    parser.add_argument("--replica-gpus", type=float, default=0.45, help="Ray GPUs of each Serve replica")
    parser.add_argument("--repeats", type=int, default=5, help="timed UNet forwards per configuration")
    parser.add_argument("--compile", action="store_true", help="also render with torch.compile'd UNet")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        build = "built without CUDA" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
        print(
            f"bench_renderer_gpu: CUDA is not available (torch {torch.__version__}, {build}). This benchmark "
            "measures the GPU path; run it on a machine with an NVIDIA GPU, or pass --device cpu for a smoke run.",
            file=sys.stderr,
        )
        return 2
    return run(args)


def synth_adapters(unet, ranks, out_dir: Path, seed: int = 0) -> list[Path]:
    """Diffusers-format LoRA files (unet.<module>.lora.down/up.weight, fp16) for every targeted Linear of `unet`."""
    import torch
    from safetensors.torch import save_file

    from headshots_common.adapter_format import UNET_TARGET_MODULES

    generator = torch.Generator().manual_seed(seed)
    targets = [
        (n, m.in_features, m.out_features)
        for n, m in unet.named_modules()
        if isinstance(m, torch.nn.Linear) and any(n == t or n.endswith("." + t) for t in UNET_TARGET_MODULES)
    ]
    paths = []
    for i, rank in enumerate(ranks):
        state = {}
        for name, fin, fout in targets:
            state[f"unet.{name}.lora.down.weight"] = (torch.randn(rank, fin, generator=generator) / fin**0.5).half()
            state[f"unet.{name}.lora.up.weight"] = (torch.randn(fout, rank, generator=generator) * 0.01).half()
        path = out_dir / f"tenant{i}" / "pytorch_lora_weights.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(state, str(path))
        paths.append(path)
    return paths


def unet_inputs(unet, batch: int, resolution: int, vae_scale: int, device, dtype):
    """A UNet call's inputs for `batch` samples: latents, text states, and SDXL's added conditions when needed."""
    import torch

    generator = torch.Generator().manual_seed(1)
    latent = resolution // vae_scale
    cross = unet.config.cross_attention_dim
    cross = cross[0] if isinstance(cross, (list, tuple)) else cross
    sample = torch.randn(batch, unet.config.in_channels, latent, latent, generator=generator).to(device, dtype)
    text = torch.randn(batch, 77, cross, generator=generator).to(device, dtype)
    kwargs = {}
    if unet.config.get("addition_embed_type") == "text_time":  # SDXL: pooled text embeds + size/crop time ids
        time_dim = unet.config.addition_time_embed_dim
        text_dim = unet.add_embedding.linear_1.in_features - 6 * time_dim
        kwargs["added_cond_kwargs"] = {
            "text_embeds": torch.randn(batch, text_dim, generator=generator).to(device, dtype),
            "time_ids": torch.tensor(
                [[resolution, resolution, 0, 0, resolution, resolution]] * batch, device=device, dtype=dtype
            ),
        }
    return sample, torch.tensor(500, device=device), text, kwargs


def run(args: argparse.Namespace) -> int:
    import torch
    from diffusers import DiffusionPipeline
    from diffusers.utils import logging as dlogging

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # this folder, for `workloads`
    from comparisons import compare_serving, serving_figures, serving_plan
    from placement import Progress
    from workloads import mix_requests, pack_requests, write_figures

    from headshots_common.blobstore import LocalBlobStore
    from renderer.engine import attention_processors, resolve_dtype
    from renderer.lora import AdapterBank, AdapterManager, install_mixed_lora, uninstall_mixed_lora

    dlogging.set_verbosity_error()
    device = torch.device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    gpu = torch.cuda.get_device_name(device) if cuda else "none (--device cpu: smoke run, not a GPU figure)"
    print(
        f"GPU: {gpu}; torch {torch.__version__}; base model {args.base_model}; {dtype}; "
        f"{args.resolution} px; {args.steps} steps",
        flush=True,
    )
    bench_started = time.perf_counter()

    pipe = DiffusionPipeline.from_pretrained(args.base_model, dtype=dtype).to(device)
    if getattr(pipe, "safety_checker", None) is not None:
        pipe.safety_checker = None  # not part of what is measured
    pipe.set_progress_bar_config(disable=True)
    unet = pipe.unet
    attention = attention_processors(unet)
    print(f"attention processors: {attention}", flush=True)
    tenants = len(RANKS)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = synth_adapters(unet, RANKS, tmp / "adapters")
        blobs = LocalBlobStore(tmp / "blobs")
        keys = [
            blobs.put(f"adapters/{i}/pytorch_lora_weights.safetensors", p.read_bytes()) for i, p in enumerate(files)
        ]

        # -- one UNet forward: 8 tenants x CFG, mixed adapters vs no LoRA ----------------------------
        bank = install_mixed_lora(unet, AdapterBank.from_unet(unet, num_slots=tenants, r_max=max(RANKS)))
        manager = AdapterManager(bank, None, host_capacity=tenants)
        for i, path in enumerate(files):
            manager.register(str(i), str(path))
        sample, timestep, text, kwargs = unet_inputs(
            unet, 2 * tenants, args.resolution, pipe.vae_scale_factor, device, dtype
        )

        def forward():
            with torch.no_grad():
                unet(sample, timestep, encoder_hidden_states=text, **kwargs)
            sync()

        samples: dict[str, list[float]] = {"nolora": [], "mixed": []}
        ids = [str(i) for i in range(tenants)]
        for i in range(args.repeats + 1):  # first round: warm-up; configurations interleaved
            for key in samples:
                if key == "nolora":
                    bank.clear_batch()
                    started = time.perf_counter()
                    forward()
                else:
                    with manager.batch(ids, guidance_doubles_batch=True):
                        started = time.perf_counter()
                        forward()
                if i:
                    samples[key].append(time.perf_counter() - started)
        nolora, mixed = (statistics.median(samples[k]) for k in ("nolora", "mixed"))
        lora_linears = len(bank.layers)
        uninstall_mixed_lora(unet)
        unet_class = type(unet).__name__
        unet_params = round(sum(p.numel() for p in unet.parameters()) / 1e6, 1)

        # -- serving: the renderer through gRPC vs resident diffusers and Ray Serve multiplexing ------------
        pipe.to("cpu")  # the GPU's memory to the sides being measured
        if cuda:
            torch.cuda.empty_cache()
        adapter_files = {f"tenant{t}": blobs.root / keys[t] for t in range(tenants)}
        tenant_keys = [(f"tenant{t}", keys[t]) for t in range(tenants)]
        env = {
            "HEADSHOTS_VAR_DIR": str(tmp / "var"),
            "HEADSHOTS_BASE_MODEL": args.base_model,
            "HEADSHOTS_BLOB_URL": f"file://{blobs.root}",
            "HEADSHOTS_DEVICE": str(device),
            "HEADSHOTS_RENDER_DTYPE": args.dtype,
            "HEADSHOTS_RENDER_STEPS": str(args.steps),
            "HEADSHOTS_RENDER_GUIDANCE": str(args.guidance),
            "HEADSHOTS_RENDER_LORA_R_MAX": str(max(RANKS)),
            "HEADSHOTS_RENDER_COMPILE": "1" if args.compile else "0",
            "HEADSHOTS_RENDER_REPLICA_GPUS": str(args.replica_gpus if cuda else 0),
        }

        def make_pipe():
            fresh = DiffusionPipeline.from_pretrained(args.base_model, dtype=dtype).to(device)
            if getattr(fresh, "safety_checker", None) is not None:
                fresh.safety_checker = None
            fresh.set_progress_bar_config(disable=True)
            return fresh

        resolution = args.resolution
        mixes = {
            "1img": mix_requests(tenant_keys, 1, args.requests_per_tenant, resolution),
            "4img": mix_requests(tenant_keys, 4, args.requests_per_tenant, resolution),
            "packs": pack_requests(tenant_keys, images=args.pack_images, styles=4, resolution=resolution),
        }
        serving = compare_serving(
            env,
            make_pipe,
            adapter_files,
            mixes,
            warmup=mix_requests(tenant_keys, 1, 1, resolution),
            steps=args.steps,
            guidance=args.guidance,
            rounds={},
            max_rank=max(RANKS),
            threads=torch.get_num_threads(),
            sync=sync,
            progress=Progress(
                "renderer GPU bench",
                serving_plan({}, {m: sum(len(r.items) for r in reqs) for m, reqs in mixes.items()}, 0.5),
            ),
        )

    where = f"{gpu}, {dtype}, {args.resolution} px, {args.steps} steps, CFG {args.guidance}"
    one = serving["mixes"]["1img"]["renderer"]
    figures = {
        "renderer.gpu.mixed_over_nolora": dict(
            value=round(mixed / nolora, 3),
            unit="ratio",
            note=(
                f"one UNet forward, 8 people x CFG = batch 16, each person's adapter "
                f"(ranks {min(RANKS)}-{max(RANKS)}) in its own slot, over no LoRA ({mixed * 1e3:.1f} vs "
                f"{nolora * 1e3:.1f} ms); {where}; bar <= 1.2"
            ),
        ),
        "renderer.gpu.images_per_s": dict(
            value=round(one["images_per_s"], 3),
            unit="images/s per GPU",
            note=(
                f"the renderer through gRPC on {args.replica_gpus} of one GPU's Ray resources (the whole GPU's "
                f"compute), 8 concurrent clients each sending single-image requests one after another: p95 latency "
                f"{one['p95_latency_s']:.2f} s, median {one['median_latency_s']:.2f} s; {where}"
            ),
        ),
        **serving_figures(serving, "renderer.gpu", where + ("; torch.compile'd UNet" if args.compile else "")),
    }
    figures["_config"] = dict(
        gpu=gpu,
        device=str(device),
        dtype=str(dtype),
        torch=torch.__version__,
        base_model=args.base_model,
        unet_class=unet_class,
        unet_params_millions=unet_params,
        lora_linears=lora_linears,
        ranks=list(RANKS),
        resolution=args.resolution,
        steps=args.steps,
        guidance=args.guidance,
        attention_processors=attention,
        forward_nolora_s=nolora,
        forward_mixed_s=mixed,
        compiled=args.compile,
        serving=serving,
        seconds=round(time.perf_counter() - bench_started, 1),
    )

    print(f"UNet forward, batch 16 (8 tenants x CFG), no LoRA        {nolora * 1e3:10.2f} ms")
    print(f"UNet forward, batch 16, 8 adapters (bank)                {mixed * 1e3:10.2f} ms")
    for mix, sides in serving["mixes"].items():
        for side, run in sides.items():
            if isinstance(run, dict):
                print(f"{mix:>6} {side:<20} {run['images_per_s']:8.3f} img/s  p95 {run['p95_latency_s']:7.2f} s")
    for name, figure in figures.items():
        if not name.startswith("_"):
            print(f"  {name:<42} {figure['value']}")
    write_figures(figures, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

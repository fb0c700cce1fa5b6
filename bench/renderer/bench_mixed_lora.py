"""Benchmark: many tenants' LoRA adapters in one batched denoising pass, against the strongest alternatives.

A randomly initialised SD1.5-shaped UNet big enough that compute dominates on a CPU (channels
64/128/256/256, 16x16 latents = 128 px images, cross-attention dim 768, with a one-layer 768-wide
text encoder and the tiny model's VAE; nothing is downloaded), 8 tenants' adapters of mixed ranks (4..16).
Every figure is a ratio of two measurements taken in this one run (medians or best runs after warm-up):

  renderer.mixed_over_nolora                      one UNet forward, batch 8, 8 tenants' adapters / no LoRA
  renderer.throughput_over_resident_diffusers     images/s THROUGH THE gRPC API (Ray Serve's proxy -> the
                                                  renderer app) over diffusers with all 8 adapters resident
                                                  (set_adapters per request, or hotswap: the faster), one
                                                  request at a time, in-process, on the main thread or a
                                                  worker thread (the faster; both reported); 8 tenants
                                                  interleaved, 1 image per request
  renderer.throughput_over_resident_diffusers_4img  the same, 4 images per request
  renderer.p95_over_resident_diffusers_4img       the renderer's p95 request latency over diffusers', 4 images
  renderer.throughput_over_resident_diffusers_packs the same, whole order packs (40 images over 4 styles)
  renderer.threads2_over_threads1                 the renderer's images/s with the benchmark's torch threads
                                                  (2 on the development machine) over the same with 1
  renderer.throughput_over_ray_multiplexed        the renderer over Ray Serve's idiom (@serve.multiplexed
                                                  adapters, @serve.batch per adapter), both through the same
                                                  gRPC proxy and client, 1 image per request
  renderer.slot_load_over_hotswap                 putting an adapter into service: diffusers' hotswap from an
                                                  in-memory state dict / a bank slot copy from host RAM (warm;
                                                  cold, from the file, in the note)
  renderer.zipf_over_resident                     images/s with 1,000 distinct registered adapters, a Zipf mix
                                                  that evicts from host RAM (16 slots, 24 in host RAM) / the
                                                  same requests with every adapter drawn already in a slot

Every side runs with the same torch thread count (--threads, default torch's), and where it is fastest: the
renderer's replica on its batch thread, the only multi-threaded torch thread of its process (renderer.threads);
in-process measurements on fresh threads, each the only OpenMP team of the process while it runs (placement.py).
Progress and an estimate of the time left are printed as it goes. Ray is always shut down at the end. Usage:
    python bench/renderer/bench_mixed_lora.py [--quick] [--out results.json] [--device cpu] [--no-grpc]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # this folder: workloads, baselines, comparisons

from attribution import ModuleTimer, attribute, gain_sources, lora_op_share, unet_batch_curve
from placement import Progress, on_fresh_thread
from workloads import mix_requests, pack_requests, render_requests, run_engine, write_figures

from headshots_common.adapter_format import UNET_TARGET_MODULES
from renderer.lora import AdapterBank, AdapterManager, install_mixed_lora, uninstall_mixed_lora

# Mixed ranks as the trainer produces them (its default is 8; profiles use 4-16).
RANKS = (4, 8, 16, 8, 4, 8, 16, 8)
CROSS_DIM = 768
TOKENS = 77
UNET_CONFIG = dict(
    sample_size=16,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    block_out_channels=(64, 128, 256, 256),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=CROSS_DIM,
    attention_head_dim=8,
    norm_num_groups=32,
)
QUICK_CONFIG = dict(UNET_CONFIG, block_out_channels=(32, 64, 128, 128))
ZIPF_REGISTERED, ZIPF_SLOTS, ZIPF_HOST = 1000, 16, 24


def lora_targets(unet) -> list[tuple[str, torch.nn.Linear]]:
    return [
        (n, m)
        for n, m in unet.named_modules()
        if isinstance(m, torch.nn.Linear) and any(n == t or n.endswith("." + t) for t in UNET_TARGET_MODULES)
    ]


def make_adapter_file(targets, path: Path, rank: int, seed: int) -> Path:
    """A diffusers-format LoRA file (keys unet.<module>.lora.down/up.weight) with random weights."""
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, module in targets:
        state[f"unet.{name}.lora.down.weight"] = (
            torch.randn(rank, module.in_features, generator=generator) / module.in_features**0.5
        )
        state[f"unet.{name}.lora.up.weight"] = torch.randn(module.out_features, rank, generator=generator) * 0.01
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path


def build_pipeline(tmp: Path, config: dict, device: torch.device, dtype: torch.dtype):
    """The benchmark UNet in a StableDiffusionPipeline: tiny model's tokenizer/VAE, a 768-wide 1-layer text encoder."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from headshots_tools.tinymodel import generate_tiny_base_model

    tiny = generate_tiny_base_model(tmp / "tiny", "sd15")
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**config).eval()
    tiny_text = CLIPTextConfig.from_pretrained(str(tiny / "text_encoder"))
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            **{
                **tiny_text.to_dict(),
                "hidden_size": CROSS_DIM,
                "intermediate_size": 4 * CROSS_DIM,
                "num_hidden_layers": 1,
                "num_attention_heads": 12,
                "projection_dim": CROSS_DIM,
            }
        )
    ).eval()
    pipe = StableDiffusionPipeline.from_pretrained(
        str(tiny), unet=unet, text_encoder=text_encoder, safety_checker=None, requires_safety_checker=False
    ).to(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def zipf_tenants(registered: int, count: int, exponent: float, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, registered + 1) ** exponent
    return rng.choice(registered, size=count, p=weights / weights.sum()).tolist()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller UNet, fewer requests and repeats (smoke run)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of every side (default: torch's)")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps of the end-to-end renders")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--no-grpc", action="store_true", help="skip the serving comparisons (Ray Serve, gRPC)")
    return run(parser.parse_args())


def run(args: argparse.Namespace) -> int:
    threads = args.threads or torch.get_num_threads()
    # The main thread starts no OpenMP team until the main-thread baseline runs (placement.py): setup runs on one
    # thread, and each in-process measurement on a fresh thread with `threads`.
    torch.set_num_threads(1)
    repeats = args.repeats or (2 if args.quick else 5)
    steps = args.steps or (2 if args.quick else 4)
    guidance = 5.0
    device = torch.device(args.device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    from diffusers import StableDiffusionPipeline
    from diffusers.utils import logging as dlogging

    from headshots_common.blobstore import LocalBlobStore
    from renderer.engine import EngineSettings, RenderEngine

    dlogging.set_verbosity_error()
    config = QUICK_CONFIG if args.quick else UNET_CONFIG
    tenants_n = len(RANKS)
    bench_started = time.perf_counter()
    figures: dict = {}
    where = f"{device} x{threads} threads, UNet {list(config['block_out_channels'])} at 128 px"
    serving_rounds = {"1img": 1, "4img": 1, "packs": 1} if args.quick else {"1img": 3, "4img": 2, "packs": 1}
    plan = {
        "build the model and the adapters": 20.0,
        "one UNet forward: mixed adapters vs no LoRA": 15.0,
        "an adapter into service: slot copy vs hotswap": 15.0,
        "1,000 adapters, Zipf": 60.0,
        "UNet batch curve and attribution": 150.0,
    }
    per_tenant = 1 if args.quick else 2
    pack_images = 8 if args.quick else 40
    if not args.no_grpc:
        from comparisons import serving_plan

        images = {"1img": 8 * per_tenant, "4img": 32 * per_tenant, "packs": 8 * pack_images}
        plan.update(serving_plan(serving_rounds, images, seconds_per_image=0.08 if args.quick else 0.27))
    progress = Progress("renderer bench", plan)
    progress.step("build the model and the adapters")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pipe = build_pipeline(tmp, config, device, dtype)
        pipe.save_pretrained(tmp / "base")  # what the Ray Serve replicas and the baselines load

        def make_pipe():
            fresh = StableDiffusionPipeline.from_pretrained(str(tmp / "base"), safety_checker=None).to(device, dtype)
            fresh.set_progress_bar_config(disable=True)
            return fresh

        unet = pipe.unet
        targets = lora_targets(unet)
        blobs = LocalBlobStore(tmp / "blobs")
        files = {
            f"tenant{i}": make_adapter_file(targets, blobs.root / f"adapters/{i}/lora.safetensors", rank, seed=i)
            for i, rank in enumerate(RANKS)
        }
        tenants = [(aid, str(path.relative_to(blobs.root))) for aid, path in files.items()]
        params = sum(p.numel() for p in unet.parameters())

        # -- one UNet forward: 8 adapters in bank slots vs no LoRA -------------------------------------------
        progress.step("one UNet forward: mixed adapters vs no LoRA")
        bank = install_mixed_lora(unet, AdapterBank.from_unet(unet, num_slots=tenants_n, r_max=max(RANKS)))
        manager = AdapterManager(bank, None, host_capacity=2 * tenants_n)
        for aid, path in files.items():
            manager.register(aid, str(path))
        generator = torch.Generator().manual_seed(1)
        # 8 people x classifier-free guidance = 16 samples, the shape the engine runs.
        sample = torch.randn(2 * tenants_n, 4, 16, 16, generator=generator).to(device, dtype)
        text = torch.randn(2 * tenants_n, TOKENS, CROSS_DIM, generator=generator).to(device, dtype)
        timestep = torch.tensor(500, device=device)

        def forward():
            with torch.no_grad():
                unet(sample, timestep, encoder_hidden_states=text)
            sync()

        samples: dict[str, list[float]] = {"nolora": [], "mixed": []}

        def forwards() -> float:
            for i in range(repeats + 1):  # interleaved, so drifting CPU load hits both alike; round 0 warms up
                bank.clear_batch()
                started = time.perf_counter()
                forward()
                if i:
                    samples["nolora"].append(time.perf_counter() - started)
                with manager.batch(list(files), guidance_doubles_batch=True):
                    started = time.perf_counter()
                    forward()
                    if i:
                        samples["mixed"].append(time.perf_counter() - started)
            with manager.batch(list(files), guidance_doubles_batch=True):
                return lora_op_share(forward)

        # torch.profiler off the main thread: kineto prints an "External init callback" line, harmless.
        lora_share = on_fresh_thread(forwards, threads)
        nolora_s, mixed_s = (statistics.median(samples[k]) for k in ("nolora", "mixed"))
        figures["renderer.mixed_over_nolora"] = dict(
            value=round(mixed_s / nolora_s, 3),
            unit="ratio",
            note=(
                f"one UNet forward, 8 people x CFG = batch 16, each person's adapter (ranks {min(RANKS)}-{max(RANKS)}) "
                f"in its own slot, over the same batch with no LoRA ({mixed_s * 1e3:.0f} vs {nolora_s * 1e3:.0f} ms; "
                f"torch.profiler: {lora_share:.1%} of the mixed forward in the LoRA products; {where}); bar <= 1.2"
            ),
        )

        # -- putting an adapter into service: a slot copy vs diffusers' hotswap ------------------------------
        progress.step("an adapter into service: slot copy vs hotswap")
        from comparisons import CPU_BARS, compare_serving, serving_figures, slot_load_vs_hotswap

        manager.prefetch("tenant3")
        parsed = manager.cache.get("tenant3")
        loads = on_fresh_thread(
            lambda: slot_load_vs_hotswap(make_pipe, bank, parsed, files["tenant3"], max(RANKS), repeats * 4, sync),
            threads,
        )
        figures["renderer.slot_load_over_hotswap"] = dict(
            value=round(loads["warm_ratio"], 1),
            unit="ratio",
            note=(
                f"rank-{RANKS[3]} adapter into service, warm: diffusers hotswap from an in-memory state dict "
                f"{loads['hotswap_warm_s'] * 1e3:.1f} ms over a bank slot copy from host RAM "
                f"{loads['slot_warm_s'] * 1e3:.2f} ms; cold, from the file: hotswap {loads['hotswap_cold_s'] * 1e3:.1f}"
                f" ms over file -> host -> slot {loads['slot_cold_s'] * 1e3:.1f} ms = {loads['cold_ratio']:.1f}x"
            ),
        )
        uninstall_mixed_lora(unet)

        # -- 1,000 distinct registered adapters, Zipf mix: 16 slots and 24 in host RAM vs all resident -------
        progress.step("1,000 adapters, Zipf")
        zipf_count = 32 if args.quick else 96
        drawn = zipf_tenants(ZIPF_REGISTERED, zipf_count, exponent=1.1, seed=7)
        zipf_keys = {}
        for user in sorted(set(drawn)):  # each drawn id has a file of its own (the rest are never read)
            path = blobs.root / f"zipf/{user:04d}/lora.safetensors"
            make_adapter_file(targets, path, RANKS[user % tenants_n], seed=1000 + user)
            zipf_keys[user] = str(path.relative_to(blobs.root))
        zipf_mix = [(f"user{u:04d}", zipf_keys[u]) for u in drawn]
        distinct = sorted(set(zipf_mix))
        settings = dict(
            default_steps=steps,
            default_guidance=guidance,
            max_batch=tenants_n,
            max_wait_s=0.05,
            lora_r_max=max(RANKS),
            torch_threads=threads,  # as in a replica: the batch thread is the only multi-threaded torch thread
        )
        warm = render_requests(tenants, 10_000)
        zipf_engine = RenderEngine(
            pipe, blobs, EngineSettings(adapter_slots=ZIPF_SLOTS, adapter_cache_capacity=ZIPF_HOST, **settings)
        )
        run_engine(zipf_engine, warm)
        zipf_s = run_engine(zipf_engine, render_requests(zipf_mix))
        zipf_stats = zipf_engine.stats()
        zipf_engine.close()
        resident_engine = RenderEngine(
            pipe, blobs, EngineSettings(adapter_slots=len(distinct), adapter_cache_capacity=len(distinct), **settings)
        )
        run_engine(resident_engine, warm)
        for request in render_requests(distinct):  # every drawn adapter into host RAM and a slot before timing
            resident_engine.prefetch(request.adapter)
            resident_engine.adapters.ensure(request.adapter.adapter_id)
        resident_s = run_engine(resident_engine, render_requests(zipf_mix))
        resident_engine.close()
        uninstall_mixed_lora(unet)
        host_evictions = zipf_stats["host_cache_evictions"]
        figures["renderer.zipf_over_resident"] = dict(
            value=round(resident_s / zipf_s, 3),
            unit="ratio",
            note=(
                f"{len(zipf_mix)} requests drawn from {ZIPF_REGISTERED:,} distinct registered adapters (Zipf s=1.1, "
                f"{len(distinct)} distinct drawn, each its own file), {ZIPF_SLOTS} slots + {ZIPF_HOST} in host RAM: "
                f"{len(zipf_mix) / zipf_s:.2f} img/s ({zipf_stats['adapter_file_loads']} file loads, "
                f"{host_evictions} evictions from host RAM, slot hit rate {zipf_stats['slot_hit_rate']:.2f}) over all "
                f"drawn resident {len(zipf_mix) / resident_s:.2f} img/s; in-process; bar >= 0.85"
            ),
        )

        # -- where the time goes: UNet batch curve and per-image attribution of each side, in-process -------
        progress.step("UNet batch curve and attribution")

        def plain_forward(n: int) -> None:
            with torch.no_grad():
                unet(sample[:1].repeat(n, 1, 1, 1), timestep, encoder_hidden_states=text[:1].repeat(n, 1, 1))
            sync()

        sizes = (2, 8, 16) if args.quick else (2, 8, 16, 32, 80)
        curve = on_fresh_thread(lambda: unet_batch_curve(plain_forward, sizes, repeats=3), threads)
        attribution = attribute_mixes(
            pipe, make_pipe, blobs, files, tenants, steps, guidance, sync, threads, pack_images=8 if args.quick else 16
        )

        # -- serving: the renderer through gRPC vs resident diffusers and Ray Serve multiplexing -------------
        serving = None
        if not args.no_grpc:
            env = {
                "HEADSHOTS_VAR_DIR": str(tmp / "var"),
                "HEADSHOTS_BASE_MODEL": str(tmp / "base"),
                "HEADSHOTS_BASE_MODEL_ARCH": "sd15",
                "HEADSHOTS_BLOB_URL": f"file://{blobs.root}",
                "HEADSHOTS_DEVICE": str(device),
                "HEADSHOTS_RENDER_STEPS": str(steps),
                "HEADSHOTS_RENDER_GUIDANCE": str(guidance),
                # Batch size, batch wait, slots, host cache and highest rank: the shipped defaults.
                "HEADSHOTS_RENDER_THREADS": str(threads),  # Ray would give each replica OMP_NUM_THREADS=1
            }
            mixes = {
                "1img": mix_requests(tenants, 1, per_tenant),
                "4img": mix_requests(tenants, 4, per_tenant),
                "packs": pack_requests(tenants, images=pack_images, styles=4),
            }
            serving = compare_serving(
                env,
                make_pipe,
                files,
                mixes,
                warmup=mix_requests(tenants, 1, 1),
                steps=steps,
                guidance=guidance,
                rounds=serving_rounds,
                max_rank=max(RANKS),
                threads=threads,
                sync=sync,
                threads1_mixes=("1img", "4img") if threads > 1 else (),
                progress=progress,
            )
            figures.update(
                serving_figures(
                    serving,
                    "renderer",
                    f"{steps} steps, {where}",
                    CPU_BARS,
                    explain=explanations(curve, attribution),
                )
            )

    figures["_config"] = dict(
        device=str(device),
        torch=torch.__version__,
        threads=threads,
        machine=platform.processor() or platform.machine(),
        quick=args.quick,
        steps=steps,
        guidance=guidance,
        unet=dict(
            block_out_channels=list(config["block_out_channels"]),
            cross_attention_dim=CROSS_DIM,
            latent=16,
            params_millions=round(params / 1e6, 1),
            lora_linears=len(targets),
        ),
        ranks=list(RANKS),
        forward_nolora_s=nolora_s,
        forward_mixed_s=mixed_s,
        loads=loads,
        lora_op_share=lora_share,
        unet_seconds_per_sample_by_batch=curve,
        attribution=attribution,
        zipf=dict(seconds=zipf_s, resident_seconds=resident_s, stats=zipf_stats, drawn=len(zipf_mix)),
        serving=serving,
        load_average_at_end=[round(x, 2) for x in os.getloadavg()],
        cpus=os.cpu_count(),
        seconds=round(time.perf_counter() - bench_started, 1),
    )
    for name, figure in figures.items():
        if not name.startswith("_"):
            print(f"{name:<52} {figure['value']:>8} {figure['unit']}")
    print(f"{figures['_config']['seconds']} s")
    write_figures(figures, args.out)
    return 0


def attribute_mixes(
    pipe, make_pipe, blobs, files, tenants, steps, guidance, sync, threads: int, pack_images: int
) -> dict:
    """Per image, UNet time and everything else, for the engine and resident diffusers on each mix (in-process).

    Each side runs alone in the process, on the process's only multi-threaded torch thread (the engine's batch
    thread; diffusers on a fresh thread: placement.py); resident diffusers runs in both modes and the faster
    counts per mix.
    """
    from baselines import ResidentDiffusers

    from renderer.engine import EngineSettings, RenderEngine

    mixes = {
        "1img": mix_requests(tenants, 1, 1),
        "4img": mix_requests(tenants, 4, 1),
        "packs": pack_requests(tenants, images=pack_images, styles=4),
    }
    warm = mix_requests(tenants, 1, 1)
    result: dict = {mix: {} for mix in mixes}
    # Everything but steps and guidance at the engine's defaults, which are the renderer's shipped settings.
    engine = RenderEngine(
        pipe, blobs, EngineSettings(default_steps=steps, default_guidance=guidance, torch_threads=threads)
    )
    timer = ModuleTimer(pipe.unet, sync)
    run_engine(engine, warm, sync)
    for mix, requests in mixes.items():
        images = sum(len(r.items) for r in requests)
        result[mix]["renderer"] = attribute(lambda r=requests: run_engine(engine, r, sync), timer, images)
    timer.remove()
    engine.close()
    uninstall_mixed_lora(pipe.unet)

    def diffusers_side(hotswap: bool) -> None:
        resident = ResidentDiffusers(make_pipe(), files, hotswap=hotswap, max_rank=max(RANKS))
        timer = ModuleTimer(resident.pipe.unet, sync)
        resident.run(warm, steps, guidance, sync)
        for mix, requests in mixes.items():
            images = sum(len(r.items) for r in requests)
            run = attribute(lambda r=requests, d=resident: d.run(r, steps, guidance, sync)[0], timer, images)
            run["mode"] = "hotswap" if hotswap else "set_adapters"
            best = result[mix].get("resident_diffusers")
            if best is None or run["seconds"] < best["seconds"]:
                result[mix]["resident_diffusers"] = run
        timer.remove()
        resident.close()

    for hotswap in (False, True):
        on_fresh_thread(lambda h=hotswap: diffusers_side(h), threads)
    return result


def explanations(curve: dict[int, float], attribution: dict) -> dict[str, str]:
    """Per mix: where the gain comes from, and what batching alone can buy on this device."""
    sizes = sorted(curve)
    bound = ", ".join(f"{n}: {curve[n] * 1e3:.1f}" for n in sizes)
    out = {}
    for mix, sides in attribution.items():
        out[mix] = (
            f"{gain_sources(sides['renderer'], sides['resident_diffusers'])}; UNet ms per sample by batch "
            f"(no LoRA) {bound}: batching alone buys at most x{curve[sizes[0]] / curve[sizes[-1]]:.2f} over batch "
            f"{sizes[0]}"
        )
    return out


if __name__ == "__main__":
    raise SystemExit(main())

"""The renderer against the strongest honest alternatives, on the same machine, in one run (CPU and GPU scripts).

Every side gets the same warm-up (one request per tenant, so every adapter is loaded), keeps everything it
can resident, and runs with its shipped settings; runs alternate between the sides and each side's best
counts, so a neighbour's load spike hits none of them alone. The renderer and Ray Serve's multiplexing idiom
are both measured through Ray Serve's gRPC proxy with the same client; resident diffusers is measured
in-process (no serving overhead, no PNG encoding: in its favour).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from baselines import ResidentDiffusers, multiplexed_app
from grpc_throughput import Run, get_stats, grpc_throughput, serve_renderer


def _best(runs: list[Run]) -> Run:
    return min(runs, key=lambda r: r.seconds)


def compare_serving(
    env: dict[str, str],
    make_pipe: Callable[[], object],
    adapter_files: dict[str, Path],
    mixes: dict[str, list],
    warmup: list,
    steps: int,
    guidance: float,
    rounds: dict[str, int],
    max_rank: int,
    sync: Callable[[], None] = lambda: None,
) -> dict:
    """Images/s and p95 latency of each side on each mix; which resident-diffusers mode was faster."""
    results: dict = {"mixes": {}}
    started = time.perf_counter()
    with serve_renderer(env, others={"multiplexed": multiplexed_app}) as target:
        results["startup_s"] = time.perf_counter() - started
        grpc_throughput(target, warmup)
        grpc_throughput(target, warmup, application="multiplexed", multiplexed=True)
        # Resident diffusers: both ways of keeping adapters at hand, timed on the first mix; the faster serves.
        modes = {}
        first_mix = next(iter(mixes))
        for hotswap in (False, True):
            resident = ResidentDiffusers(make_pipe(), adapter_files, hotswap=hotswap, max_rank=max_rank)
            resident.run(warmup, steps, guidance, sync)
            seconds, _ = resident.run(mixes[first_mix], steps, guidance, sync)
            modes["hotswap" if hotswap else "set_adapters"] = (seconds, resident)
        mode = min(modes, key=lambda m: modes[m][0])
        resident = modes[mode][1]
        for name, (_, other) in modes.items():
            if name != mode:
                other.close()
        results["resident_mode"] = mode
        results["resident_modes_first_mix_s"] = {m: s for m, (s, _) in modes.items()}
        for mix, requests in mixes.items():
            images = sum(len(r.items) for r in requests)
            ours, multiplexed, diffusers = [], [], []
            for _ in range(rounds.get(mix, 1)):
                ours.append(grpc_throughput(target, requests))
                multiplexed.append(grpc_throughput(target, requests, application="multiplexed", multiplexed=True))
                diffusers.append(Run(*resident.run(requests, steps, guidance, sync)))
            best = {
                "renderer": _best(ours),
                "ray_multiplexed": _best(multiplexed),
                "resident_diffusers": _best(diffusers),
            }
            results["mixes"][mix] = {
                "images": images,
                "requests": len(requests),
                "rounds": rounds.get(mix, 1),
                **{
                    side: {
                        "seconds": run.seconds,
                        "images_per_s": images / run.seconds,
                        "p95_latency_s": run.p95_s(),
                        "median_latency_s": statistics.median(run.latencies_s),
                    }
                    for side, run in best.items()
                },
            }
        resident.close()
        results["renderer_stats"] = get_stats(target)
    results["seconds"] = time.perf_counter() - started
    return results


def slot_load_vs_hotswap(make_pipe, bank, parsed, path: Path, max_rank: int, repeats: int, sync) -> dict:
    """Putting one adapter into service: a bank slot copy vs diffusers' hotswap, warm (from memory) and cold (file)."""
    from safetensors.torch import load_file

    from renderer.lora import load_adapter_file

    def timed(fn) -> float:
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    pipe = make_pipe()
    state = load_file(str(path))
    pipe.enable_lora_hotswap(target_rank=max_rank)
    pipe.load_lora_weights(dict(state), adapter_name="live")
    hotswap_warm = timed(lambda: pipe.load_lora_weights(dict(state), adapter_name="live", hotswap=True))
    hotswap_cold = timed(
        lambda: pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name="live", hotswap=True)
    )
    pipe.unload_lora_weights()
    slot_warm = timed(lambda: bank.load(3, parsed))
    slot_cold = timed(lambda: bank.load(3, load_adapter_file(path)))
    return {
        "hotswap_warm_s": hotswap_warm,
        "hotswap_cold_s": hotswap_cold,
        "slot_warm_s": slot_warm,
        "slot_cold_s": slot_cold,
        "warm_ratio": hotswap_warm / slot_warm,
        "cold_ratio": hotswap_cold / slot_cold,
    }


MIX_DESCRIPTIONS = {
    "1img": "1 image per request",
    "4img": "4 images per request",
    "packs": "one whole order pack per tenant",
}
# This machine's bars (the CPU benchmark); the GPU script states its load and reports no bars.
CPU_BARS = {"1img": 2.5, "4img": 1.3, "ray_multiplexed": 1.5}


def serving_figures(
    serving: dict, prefix: str, where: str, bars: dict | None = None, explain: dict[str, str] | None = None
) -> dict:
    """`<prefix>.throughput_over_resident_diffusers{,_4img,_packs}` and `<prefix>.throughput_over_ray_multiplexed`,
    each with both sides' images/s and p95 latency in its note."""
    mixes, mode, bars, explain = serving["mixes"], serving["resident_mode"], bars or {}, explain or {}

    def side(mix: str, name: str) -> str:
        s = mixes[mix][name]
        return f"{s['images_per_s']:.3g} img/s, p95 {s['p95_latency_s']:.3g} s"

    def ratio(mix: str, over: str) -> float:
        return round(mixes[mix]["renderer"]["images_per_s"] / mixes[mix][over]["images_per_s"], 2)

    def bar(key: str) -> str:
        return f"; bar >= {bars[key]}" if key in bars else ""

    common = (
        "8 tenants interleaved, CFG, the same warm-up (every adapter loaded) on every side, best of alternated "
        f"runs; {where}"
    )
    figures = {}
    for mix, suffix in (("1img", ""), ("4img", "_4img"), ("packs", "_packs")):
        m = mixes[mix]
        figures[f"{prefix}.throughput_over_resident_diffusers{suffix}"] = dict(
            value=ratio(mix, "resident_diffusers"),
            unit="ratio",
            note=(
                f"{m['images']} images in {m['requests']} requests ({MIX_DESCRIPTIONS[mix]}): the renderer through "
                f"gRPC ({side(mix, 'renderer')}) over diffusers with all 8 adapters resident ({mode}, the faster of "
                f"set_adapters and hotswap), one request at a time, in-process ({side(mix, 'resident_diffusers')}); "
                f"{common}{bar(mix)}" + (f"; {explain[mix]}" if mix in explain else "")
            ),
        )
    figures[f"{prefix}.throughput_over_ray_multiplexed"] = dict(
        value=ratio("1img", "ray_multiplexed"),
        unit="ratio",
        note=(
            f"{mixes['1img']['images']} single-image requests: the renderer ({side('1img', 'renderer')}) over Ray "
            f"Serve's idiom, @serve.multiplexed adapters (all kept) + @serve.batch per adapter "
            f"({side('1img', 'ray_multiplexed')}), both through the same gRPC proxy and client; at 4 images per "
            f"request {ratio('4img', 'ray_multiplexed')}x, packs {ratio('packs', 'ray_multiplexed')}x; "
            f"{common}{bar('ray_multiplexed')}"
        ),
    )
    return figures

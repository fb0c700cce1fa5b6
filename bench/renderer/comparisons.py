"""The renderer against the strongest honest alternatives, on the same machine, in one run (CPU and GPU scripts).

Every side gets the same warm-up (one request per tenant, so every adapter is loaded), keeps everything it
can resident, runs with its shipped settings and the same torch thread count, and runs where it is fastest;
runs alternate between the sides round by round (paired), and each side's best run counts, so a neighbour's
load spike hits none of them alone. The renderer and Ray Serve's multiplexing idiom are both measured through
Ray Serve's gRPC proxy with the same client; resident diffusers is measured in-process (no serving overhead,
no PNG encoding: in its favour), on the main thread and on a worker thread beside it, and the faster counts
(both are reported). The renderer also runs as a second application with one torch thread, for the thread
scaling figure.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from baselines import ResidentDiffusers, multiplexed_app
from grpc_throughput import Run, get_stats, grpc_throughput, serve_renderer
from placement import Progress, on_fresh_thread

THREADS1 = "renderer_threads1"  # the Serve application of the renderer with one torch thread
PLACEMENTS = {"main": "resident_diffusers_main", "worker": "resident_diffusers_worker"}


def _best(runs: list[Run]) -> Run:
    return min(runs, key=lambda r: r.seconds)


def renderer_with_threads(threads: int):
    """The renderer application with `threads` torch threads per replica (settings otherwise from the env)."""
    from renderer.app import RendererDeployment
    from renderer.config import load

    options = {
        "num_cpus": load().replica_cpus,
        "runtime_env": {"env_vars": {"HEADSHOTS_RENDER_THREADS": str(threads)}},
    }
    return RendererDeployment.options(ray_actor_options=options).bind()  # type: ignore[attr-defined]


def serving_plan(rounds: dict[str, int], images: dict[str, int], seconds_per_image: float) -> dict[str, float]:
    """`compare_serving`'s progress steps and their rough seconds (for the ETA): about five sides' worth of
    `seconds_per_image` per image and round."""
    plan = {"serving: start Ray Serve and warm every side up": 60.0}
    for mix, count in images.items():
        for r in range(rounds.get(mix, 1)):
            plan[f"serving {mix}: round {r + 1}/{rounds.get(mix, 1)}"] = 5 * count * seconds_per_image
    return plan


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
    threads: int,
    sync: Callable[[], None] = lambda: None,
    threads1_mixes: tuple[str, ...] = (),
    progress: Progress | None = None,
) -> dict:
    """Images/s and p95 latency of each side on each mix; which resident-diffusers mode and thread was faster.

    `threads`: every side's torch threads (the main thread's for the main-thread baseline). `threads1_mixes`:
    the mixes the one-thread renderer also runs."""
    step = progress.step if progress else (lambda name: None)
    results: dict = {"mixes": {}, "threads": threads}
    started = time.perf_counter()
    step("serving: start Ray Serve and warm every side up")
    others: dict[str, Callable] = {"multiplexed": multiplexed_app}
    if threads1_mixes:
        others[THREADS1] = lambda: renderer_with_threads(1)
    with serve_renderer(env, others=others) as target:
        results["startup_s"] = time.perf_counter() - started
        grpc_throughput(target, warmup)
        grpc_throughput(target, warmup, application="multiplexed", multiplexed=True)
        if threads1_mixes:
            grpc_throughput(target, warmup, application=THREADS1)
        # The main thread's own count from here on: its OpenMP team is the main-thread baseline's.
        torch.set_num_threads(threads)
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
        on_fresh_thread(lambda: resident.run(warmup, steps, guidance, sync), threads, "diffusers-worker")

        def on_main(requests) -> Run:
            return Run(*resident.run(requests, steps, guidance, sync))

        def on_worker(requests) -> Run:  # a fresh thread beside the main thread's team, as a thread pool serves
            return on_fresh_thread(lambda: Run(*resident.run(requests, steps, guidance, sync)), threads, "diffusers")

        for mix, requests in mixes.items():
            images = sum(len(r.items) for r in requests)
            sides: dict[str, Callable[[], Run]] = {
                "renderer": lambda r=requests: grpc_throughput(target, r),
                PLACEMENTS["main"]: lambda r=requests: on_main(r),
                PLACEMENTS["worker"]: lambda r=requests: on_worker(r),
                "ray_multiplexed": lambda r=requests: grpc_throughput(
                    target, r, application="multiplexed", multiplexed=True
                ),
            }
            if mix in threads1_mixes:
                sides[THREADS1] = lambda r=requests: grpc_throughput(target, r, application=THREADS1)
            runs: dict[str, list[Run]] = {side: [] for side in sides}
            for r in range(rounds.get(mix, 1)):
                step(f"serving {mix}: round {r + 1}/{rounds.get(mix, 1)}")
                for side, measure in sides.items():
                    runs[side].append(measure())
            best = {side: _best(side_runs) for side, side_runs in runs.items()}
            placement = min(PLACEMENTS, key=lambda p: best[PLACEMENTS[p]].seconds)
            best["resident_diffusers"] = best[PLACEMENTS[placement]]
            results["mixes"][mix] = {
                "images": images,
                "requests": len(requests),
                "rounds": rounds.get(mix, 1),
                "baseline_thread": placement,
                # Each round's renderer seconds over the faster baseline placement's (paired: the same round).
                "paired_ratios": [
                    round(min(runs[PLACEMENTS[p]][i].seconds for p in PLACEMENTS) / ours.seconds, 3)
                    for i, ours in enumerate(runs["renderer"])
                ],
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
# This machine's bars (the CPU benchmark, issue 24); the GPU script states its load and reports no bars.
CPU_BARS = {"1img": 2.0, "4img": 1.1, "packs": 1.0, "p95_4img": 1.0, "threads": 1.0, "ray_multiplexed": 1.5}


def serving_figures(
    serving: dict, prefix: str, where: str, bars: dict | None = None, explain: dict[str, str] | None = None
) -> dict:
    """`<prefix>.throughput_over_resident_diffusers{,_4img,_packs}`, `<prefix>.p95_over_resident_diffusers_4img`,
    `<prefix>.throughput_over_ray_multiplexed` and, when the one-thread renderer ran, `<prefix>.threads2_over_threads1`;
    each with both sides' images/s and p95 latency in its note, the baseline on both threads."""
    mixes, mode, bars, explain = serving["mixes"], serving["resident_mode"], bars or {}, explain or {}
    threads = serving["threads"]

    def side(mix: str, name: str) -> str:
        s = mixes[mix][name]
        return f"{s['images_per_s']:.3g} img/s, p95 {s['p95_latency_s']:.3g} s"

    def ratio(mix: str, over: str) -> float:
        return round(mixes[mix]["renderer"]["images_per_s"] / mixes[mix][over]["images_per_s"], 2)

    def bar(key: str, sign: str = ">=") -> str:
        return f"; bar {sign} {bars[key]}" if key in bars else ""

    def baseline(mix: str) -> str:
        m = mixes[mix]
        return (
            f"diffusers with all 8 adapters resident ({mode}, the faster of set_adapters and hotswap), one request at "
            f"a time, in-process, on the {m['baseline_thread']} thread, the faster: main thread "
            f"{side(mix, PLACEMENTS['main'])} ({ratio(mix, PLACEMENTS['main'])}x), a worker thread beside it "
            f"{side(mix, PLACEMENTS['worker'])} ({ratio(mix, PLACEMENTS['worker'])}x)"
        )

    def common(rounds: int) -> str:
        return (
            f"8 tenants interleaved, CFG, {threads} torch threads on every side, the same warm-up (every adapter "
            f"loaded), best of {rounds} paired rounds; {where}"
        )

    figures = {}
    for mix, suffix in (("1img", ""), ("4img", "_4img"), ("packs", "_packs")):
        m = mixes[mix]
        figures[f"{prefix}.throughput_over_resident_diffusers{suffix}"] = dict(
            value=ratio(mix, "resident_diffusers"),
            unit="ratio",
            note=(
                f"{m['images']} images in {m['requests']} requests ({MIX_DESCRIPTIONS[mix]}): the renderer through "
                f"gRPC ({side(mix, 'renderer')}) over {baseline(mix)}; per round {m['paired_ratios']}; "
                f"{common(m['rounds'])}{bar(mix)}" + (f"; {explain[mix]}" if mix in explain else "")
            ),
        )
    m = mixes["4img"]
    figures[f"{prefix}.p95_over_resident_diffusers_4img"] = dict(
        value=round(m["renderer"]["p95_latency_s"] / m["resident_diffusers"]["p95_latency_s"], 2),
        unit="ratio",
        note=(
            f"p95 request latency at 4 images per request (every request arriving at the start, each tenant's next "
            f"when its last is done): the renderer {m['renderer']['p95_latency_s']:.3g} s (median "
            f"{m['renderer']['median_latency_s']:.3g} s) over diffusers on the {m['baseline_thread']} thread "
            f"{m['resident_diffusers']['p95_latency_s']:.3g} s (median "
            f"{m['resident_diffusers']['median_latency_s']:.3g} s), serving in arrival order; "
            f"{common(m['rounds'])}{bar('p95_4img', '<=')}"
        ),
    )
    if THREADS1 in mixes["1img"]:
        per_mix = {mix: ratio(mix, THREADS1) for mix in mixes if THREADS1 in mixes[mix]}
        figures[f"{prefix}.threads2_over_threads1"] = dict(
            value=per_mix["1img"],
            unit="ratio",
            note=(
                f"the renderer's images/s with {threads} torch threads over the same renderer with 1 "
                f"({side('1img', 'renderer')} vs {side('1img', THREADS1)}), 1 image per request; "
                + ", ".join(f"{mix} {value}x" for mix, value in per_mix.items())
                + f"; both through gRPC in one Ray Serve, rounds alternated; {where}{bar('threads')}"
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
            f"{common(mixes['1img']['rounds'])}{bar('ray_multiplexed')}"
        ),
    )
    return figures

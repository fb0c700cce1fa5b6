"""Where the time goes: the profiler evidence behind the serving ratios (CPU and GPU scripts).

- `unet_batch_curve`: seconds per UNet sample at each batch size (no LoRA), i.e. what batching alone can buy
  on this device. diffusers serving one 1-image request runs batch 2 (classifier-free guidance); the renderer
  runs up to `max_batch` images x 2.
- `attribute`: one run of a side split into time inside the UNet (forward hooks), UNet samples, and
  everything else (text encoding, VAE decode, adapter switching, scheduling, PNG) -- per image.
- `lora_op_share`: with torch.profiler, the share of one mixed-adapter UNet forward spent in the LoRA
  products (`bmm`/`baddbmm`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


class ModuleTimer:
    """Wall seconds spent inside a module's forward calls, and the samples (dim 0) they saw."""

    def __init__(self, module, sync: Callable[[], None]):
        self.seconds, self.samples, self.calls = 0.0, 0, 0
        self._started = 0.0
        self._sync = sync
        self._handles = [
            module.register_forward_pre_hook(self._before, with_kwargs=True),
            module.register_forward_hook(self._after),
        ]

    def _before(self, module, args, kwargs):
        self._sync()
        sample = args[0] if args else kwargs["sample"]
        self.samples += int(sample.shape[0])
        self.calls += 1
        self._started = time.perf_counter()

    def _after(self, module, args, output):
        self._sync()
        self.seconds += time.perf_counter() - self._started

    def reset(self) -> None:
        self.seconds, self.samples, self.calls = 0.0, 0, 0

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def unet_batch_curve(forward_at: Callable[[int], None], sizes, repeats: int) -> dict[int, float]:
    """Median seconds per sample of `forward_at(batch)` for each batch size (after one warm-up each)."""
    curve = {}
    for n in sizes:
        forward_at(n)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            forward_at(n)
            times.append(time.perf_counter() - started)
        curve[n] = statistics.median(times) / n
    return curve


def attribute(run: Callable[[], float], timer: ModuleTimer, images: int) -> dict:
    """Run once; seconds per image in the UNet and elsewhere, and the mean UNet batch."""
    timer.reset()
    total = run()
    return {
        "images": images,
        "seconds": total,
        "unet_s_per_image": timer.seconds / images,
        "other_s_per_image": max(total - timer.seconds, 0.0) / images,
        "unet_mean_batch": timer.samples / max(timer.calls, 1),
    }


def lora_op_share(forward: Callable[[], None]) -> float:
    """Share of self CPU time in the LoRA batched products during one forward (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    forward()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        forward()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    lora = sum(e.self_cpu_time_total for e in events if e.key in ("aten::bmm", "aten::baddbmm_", "aten::baddbmm"))
    return lora / total if total else 0.0


def gain_sources(renderer: dict, diffusers: dict) -> str:
    """'UNet x1.6 (batch 16 vs 2), the rest x6.6': the ratio split into its two sources."""
    unet = diffusers["unet_s_per_image"] / renderer["unet_s_per_image"]
    other = diffusers["other_s_per_image"] / max(renderer["other_s_per_image"], 1e-9)
    per_image = (renderer["seconds"] / renderer["images"], diffusers["seconds"] / diffusers["images"])
    return (
        f"in-process, each side alone: {1 / per_image[0]:.2f} vs {1 / per_image[1]:.2f} img/s "
        f"(diffusers {diffusers.get('mode', '')}); UNet {renderer['unet_s_per_image'] * 1e3:.0f} vs "
        f"{diffusers['unet_s_per_image'] * 1e3:.0f} ms/image (mean UNet batch {renderer['unet_mean_batch']:.0f} vs "
        f"{diffusers['unet_mean_batch']:.0f}: x{unet:.2f}), everything else {renderer['other_s_per_image'] * 1e3:.0f}"
        f" vs {diffusers['other_s_per_image'] * 1e3:.0f} ms/image (text encoding, VAE, adapter switching: x{other:.2f})"
    )

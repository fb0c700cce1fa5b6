"""The alternatives a user choosing a serving stack would pick, each given everything it can keep resident.

- `ResidentDiffusers`: diffusers with every tenant's adapter loaded once (`load_lora_weights` per adapter
  name) and `set_adapters` per request, one request at a time; or, `hotswap=True`, one live adapter whose
  weights are swapped in place from state dicts kept in memory (diffusers' hotswap). The faster is the
  baseline. A request's own images are one pipeline call, so diffusers batches them itself.
- `MultiplexedRenderer`: Ray Serve's own idiom for many fine-tuned models, `@serve.multiplexed` adapters
  (all 8 kept per replica) with `@serve.batch`, which batches only requests for the same adapter; served
  through Ray Serve's gRPC proxy with the same RendererService contract as the renderer, so the same
  client measures both.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import torch

from headshots_common.styles import NEGATIVE_PROMPT, STYLES

SUBJECT = "sks person"


def _prompts(items) -> tuple[list[str], list[str], list[torch.Generator]]:
    return (
        [STYLES[i.style_id].prompt(SUBJECT) for i in items],
        [NEGATIVE_PROMPT] * len(items),
        [torch.Generator().manual_seed(i.seed) for i in items],
    )


def adapter_name(adapter_id: str) -> str:
    """An adapter name peft accepts (no dots or slashes)."""
    return "a_" + "".join(c if c.isalnum() else "_" for c in adapter_id)


class ResidentDiffusers:
    """diffusers serving one request at a time, every adapter resident (or hot-swapped from memory)."""

    def __init__(self, pipe, adapter_files: dict[str, Path], hotswap: bool = False, max_rank: int = 16):
        from safetensors.torch import load_file

        self.pipe, self.hotswap = pipe, hotswap
        self.names = {aid: adapter_name(aid) for aid in adapter_files}
        if hotswap:
            self.state_dicts = {aid: load_file(str(path)) for aid, path in adapter_files.items()}
            pipe.enable_lora_hotswap(target_rank=max_rank)
            first = next(iter(self.state_dicts))
            pipe.load_lora_weights(dict(self.state_dicts[first]), adapter_name="live")
            self.live = first
        else:
            for aid, path in adapter_files.items():
                pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=self.names[aid])

    def select(self, adapter_id: str) -> None:
        if self.hotswap:
            if adapter_id != self.live:
                self.pipe.load_lora_weights(dict(self.state_dicts[adapter_id]), adapter_name="live", hotswap=True)
                self.live = adapter_id
        else:
            self.pipe.set_adapters([self.names[adapter_id]], adapter_weights=[1.0])

    def render(self, request, steps: int, guidance: float):
        self.select(request.adapter.adapter_id)
        prompts, negatives, generators = _prompts(list(request.items))
        return self.pipe(
            prompt=prompts,
            negative_prompt=negatives,
            height=request.height or None,
            width=request.width or None,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=generators,
        ).images

    def run(self, requests, steps: int, guidance: float, sync=lambda: None) -> tuple[float, list[float]]:
        """Seconds for all requests, served in arrival order, and each request's latency (all arrive at 0)."""
        started = time.perf_counter()
        latencies = []
        for request in requests:
            self.render(request, steps, guidance)
            sync()
            latencies.append(time.perf_counter() - started)
        return time.perf_counter() - started, latencies

    def close(self) -> None:
        self.pipe.unload_lora_weights()


# -- Ray Serve's idiom: multiplexed adapters, batched per adapter --------------------------------------------
def multiplexed_app():
    """The Serve application; settings come from the environment, as the renderer's do."""
    from ray import serve

    @serve.deployment(name="MultiplexedRenderer", max_ongoing_requests=256)
    class MultiplexedRenderer:
        def __init__(self):
            from diffusers import DiffusionPipeline
            from diffusers.utils import logging as dlogging

            dlogging.set_verbosity_error()
            torch.set_num_threads(int(os.environ.get("HEADSHOTS_RENDER_THREADS", "1")))
            device = torch.device(os.environ.get("HEADSHOTS_DEVICE", "cpu"))
            dtype = torch.float16 if device.type == "cuda" else torch.float32
            base = os.environ["HEADSHOTS_BASE_MODEL"]
            self.pipe = DiffusionPipeline.from_pretrained(base, torch_dtype=dtype).to(device)
            if getattr(self.pipe, "safety_checker", None) is not None:
                self.pipe.safety_checker = None  # the renderer runs none either
            self.pipe.set_progress_bar_config(disable=True)
            self.blob_root = Path(os.environ["HEADSHOTS_BLOB_URL"].removeprefix("file://"))
            self.steps = int(os.environ["HEADSHOTS_RENDER_STEPS"])
            self.guidance = float(os.environ["HEADSHOTS_RENDER_GUIDANCE"])

        @serve.multiplexed(max_num_models_per_replica=16)
        async def get_adapter(self, adapter_key: str) -> str:
            path = self.blob_root / adapter_key
            name = adapter_name(adapter_key)
            self.pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=name)
            return name

        @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.05)
        async def render_batch(self, requests: list) -> list:
            """Requests for one adapter (Serve splits batches by multiplexed model id)."""
            name = await self.get_adapter(serve.get_multiplexed_model_id())
            self.pipe.set_adapters([name], adapter_weights=[1.0])
            items = [item for request in requests for item in request.items]
            prompts, negatives, generators = _prompts(items)
            images = self.pipe(
                prompt=prompts,
                negative_prompt=negatives,
                height=requests[0].height or None,  # the benchmarks send one size throughout
                width=requests[0].width or None,
                num_inference_steps=self.steps,
                guidance_scale=self.guidance,
                generator=generators,
            ).images
            out, at = [], 0
            for request in requests:
                out.append(images[at : at + len(request.items)])
                at += len(request.items)
            return out

        async def Render(self, request):
            from headshots.v1 import renderer_service_pb2 as pb

            images = await self.render_batch(request)
            for index, (item, image) in enumerate(zip(request.items, images, strict=True)):
                png = io.BytesIO()
                image.save(png, format="PNG")
                yield pb.RenderResponse(
                    index=index,
                    style_id=item.style_id,
                    seed=item.seed,
                    width=image.width,
                    height=image.height,
                    png=png.getvalue(),
                )

    # The same share of a GPU as each renderer replica (HEADSHOTS_RENDER_REPLICA_GPUS), so both fit on one.
    gpus = float(os.environ.get("HEADSHOTS_RENDER_REPLICA_GPUS", "0"))
    return MultiplexedRenderer.options(ray_actor_options={"num_gpus": gpus} if gpus else {}).bind()

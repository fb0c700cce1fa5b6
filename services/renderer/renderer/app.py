"""The Ray Serve application: RendererService over Ray Serve's gRPC proxy.

Ray Serve calls the deployment method named like the RPC with the request
message; a generator method serves a server-streaming RPC.

Batching across adapters happens inside the replica (`RenderEngine`'s scheduler thread),
not with `@serve.batch`, which would split batches by multiplexed model id. `Render` is
an async generator so that many callers' concurrent requests wait on the replica's event
loop at once and land in the same batches; max_ongoing_requests bounds how many.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from ray import serve

from headshots.v1 import renderer_service_pb2 as pb
from headshots_common import tracing
from renderer.config import RendererConfig, load
from renderer.errors import AdapterDeleted

log = logging.getLogger(__name__)


@serve.deployment(name="Renderer", max_ongoing_requests=256)
class RendererDeployment:
    def __init__(self):
        # torch and diffusers load inside the replica only
        from headshots_common.logs import configure_logging
        from headshots_common.tracing import configure_tracing
        from renderer.adapter_events import AdapterEventListener
        from renderer.engine import EngineSettings, RenderEngine
        from renderer.observability import ReplicaMetrics

        configure_logging("renderer", ml_libraries=True)  # this Ray worker's own lines, JSON like every service's
        configure_tracing("renderer")
        config = load()
        import torch

        # The batch thread alone runs torch on this many threads (Ray's OMP_NUM_THREADS, the replica's CPUs, unless
        # configured); this one, which loads the model and then serves requests, and every other use one
        # (renderer.threads).
        threads = config.torch_threads or torch.get_num_threads()
        self.engine = RenderEngine.load(
            config.shared.base_model,
            config.shared.blob_url,
            config.device,
            EngineSettings(
                default_steps=config.num_inference_steps,
                default_guidance=config.guidance_scale,
                max_batch=config.max_batch,
                max_request_batch=config.max_request_batch,
                max_wait_s=config.max_wait_ms / 1000,
                adapter_slots=config.adapter_slots,
                lora_r_max=config.lora_r_max,
                adapter_cache_capacity=config.adapter_cache_capacity,
                prompt_cache_capacity=config.prompt_cache_capacity,
                compile_unet=config.compile_unet,
                torch_threads=threads,
            ),
            dtype=config.dtype,
        )
        self.engine.replica_id = _replica_id()
        self.metrics = ReplicaMetrics(self.engine).start()
        self.adapter_events = AdapterEventListener(
            self.engine, config.shared.kafka_bootstrap, self.engine.replica_id, sweep_s=config.deletion_sweep_s
        ).start()
        log.info(
            "renderer replica %s ready with base model %s, batches on %d torch threads",
            self.engine.replica_id,
            self.engine.base_model,
            threads,
        )

    async def Render(self, request: pb.RenderRequest, grpc_context=None):
        """`grpc_context` (Ray Serve's RayServegRPCContext): a bad request or adapter file -- a
        ValueError, at submit or when its batch loads the adapter -- ends the call with
        INVALID_ARGUMENT and the error's message, and a deleted order's adapter with
        FAILED_PRECONDITION, instead of a generic error."""
        loop = asyncio.get_running_loop()
        results: asyncio.Queue = asyncio.Queue()

        def on_result(image, result):  # called on the engine's batch thread
            loop.call_soon_threadsafe(results.put_nowait, result)

        traceparent = tracing.traceparent_from_grpc(grpc_context.invocation_metadata() if grpc_context else None)
        # Validation and the adapter's file read run off the event loop.
        try:
            queued = await loop.run_in_executor(None, self.engine.submit, request, on_result, traceparent)
        except AdapterDeleted as exc:
            _fail_with(grpc_context, grpc.StatusCode.FAILED_PRECONDITION, exc)
            raise
        except ValueError as exc:
            _fail_with(grpc_context, grpc.StatusCode.INVALID_ARGUMENT, exc)
            raise
        try:
            for _ in queued.items:
                result = await results.get()
                if isinstance(result, ValueError):
                    _fail_with(grpc_context, grpc.StatusCode.INVALID_ARGUMENT, result)
                if isinstance(result, BaseException):
                    raise result
                png = await loop.run_in_executor(None, result.png)
                yield pb.RenderResponse(
                    index=result.index,
                    style_id=result.style_id,
                    seed=result.seed,
                    width=result.image.width,
                    height=result.image.height,
                    png=png,
                )
        finally:
            self.engine.cancel(queued)  # a failed or abandoned call drops its queued images

    async def PrefetchAdapter(self, request: pb.PrefetchAdapterRequest) -> pb.PrefetchAdapterResponse:
        cached = await asyncio.get_running_loop().run_in_executor(None, self.engine.prefetch, request.adapter)
        return pb.PrefetchAdapterResponse(cached=cached)

    async def EvictAdapter(self, request: pb.EvictAdapterRequest) -> pb.EvictAdapterResponse:
        # Waits for a running batch to finish: a slot is never cleared under a forward pass.
        evicted = await asyncio.get_running_loop().run_in_executor(None, self.engine.evict, request.adapter_id)
        return pb.EvictAdapterResponse(evicted=evicted > 0)

    def GetStats(self, request: pb.GetStatsRequest) -> pb.GetStatsResponse:
        return pb.GetStatsResponse(**self.engine.stats())

    def check_health(self):
        if self.engine.pipe is None:
            raise RuntimeError("base pipeline not loaded")


def _fail_with(grpc_context, code: grpc.StatusCode, exc: BaseException) -> None:
    """Mark the call with `code`; Ray Serve keeps a code set on the context when the method then raises."""
    if grpc_context is not None:
        grpc_context.set_code(code)
        grpc_context.set_details(str(exc))


def _replica_id() -> str:
    try:
        return serve.get_replica_context().replica_id.unique_id
    except Exception:  # not inside a Serve replica (tests construct the class directly)
        return "local"


def build_app(config: RendererConfig | None = None):
    """The application with the configured replicas and what each asks of Ray (GPUs, CPUs)."""
    config = config or load()
    actor_options: dict = {"num_cpus": config.replica_cpus}
    if config.replica_gpus:
        actor_options["num_gpus"] = config.replica_gpus
    deployment = RendererDeployment.options(  # type: ignore[attr-defined]  # @serve.deployment made it a Deployment
        num_replicas=config.replicas, ray_actor_options=actor_options
    )
    return deployment.bind()


app = build_app()

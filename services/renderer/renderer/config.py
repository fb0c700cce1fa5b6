"""The renderer's configuration, read once from environment variables."""

from __future__ import annotations

from dataclasses import dataclass

from headshots_common.basemodel import is_generated_test_model
from headshots_common.settings import SharedSettings, env_bool, env_float, env_int, env_str

# Names the dispatcher's heartbeat (lifecycle.heartbeat_of): its loop beats while it runs, the liveness
# probe reads the age.
DISPATCHER_PROCESS_NAME = "renderer-dispatcher"


@dataclass(frozen=True)
class RendererConfig:
    shared: SharedSettings
    grpc_port: int
    http_port: int
    grpc_target: str
    consumer_group: str
    num_inference_steps: int
    guidance_scale: float
    max_batch: int
    max_request_batch: int  # a request too big for a batch runs alone, in equal batches of at most this many images
    max_wait_ms: int
    adapter_slots: int
    lora_r_max: int
    adapter_cache_capacity: int
    prompt_cache_capacity: int
    overgenerate: float
    top_up_rounds: int  # rounds rendered again, with new seeds, for the images a style is still missing
    device: str
    dtype: str  # auto (fp16 on CUDA, fp32 on CPU), fp16, bf16 or fp32
    compile_unet: bool  # torch.compile the UNet (mixed-LoRA modules included)
    torch_threads: int  # torch.set_num_threads in the replica; 0 leaves torch's default
    replicas: int  # Serve replicas of the renderer; each holds its own base model, tiers and caches
    replica_cpus: float  # Ray CPUs each replica asks for
    replica_gpus: float  # Ray GPUs each replica asks for (1 on a GPU node: one replica per GPU)
    deletion_sweep_s: float  # how often a replica checks the tombstones of the adapters it holds
    quality_gate: bool  # drop images that fail a headshot check before the pick (renderer.quality)


def load() -> RendererConfig:
    grpc_port = env_int("HEADSHOTS_RENDERER_GRPC_PORT", 9000)
    shared = SharedSettings.from_env()
    return RendererConfig(
        shared=shared,
        grpc_port=grpc_port,
        # Ray Serve's HTTP proxy; moved off 8000, which the gateway uses.
        http_port=env_int("HEADSHOTS_RENDERER_HTTP_PORT", 8100),
        grpc_target=env_str("HEADSHOTS_RENDERER_GRPC_TARGET", f"127.0.0.1:{grpc_port}"),
        consumer_group=env_str("HEADSHOTS_RENDERER_GROUP", "headshots-renderer"),
        num_inference_steps=env_int("HEADSHOTS_RENDER_STEPS", 12),
        guidance_scale=env_float("HEADSHOTS_RENDER_GUIDANCE", 5.0),
        # One denoising batch holds up to max_batch images for up to adapter_slots adapters.
        max_batch=env_int("HEADSHOTS_RENDER_MAX_BATCH", 8),
        # A request with more images than a batch holds (an order's pack) runs alone, as diffusers runs a request,
        # in equal batches of at most this many images (others wait at most one of them); 0: 4 x MAX_BATCH on a
        # CPU, MAX_BATCH on a GPU (EngineSettings.max_request_batch).
        max_request_batch=env_int("HEADSHOTS_RENDER_MAX_REQUEST_BATCH", 0),
        # A batch waits for more images while they keep arriving: until none has come for this long
        # (and at most 4x this long after the first).
        max_wait_ms=env_int("HEADSHOTS_RENDER_MAX_WAIT_MS", 25),
        adapter_slots=env_int("HEADSHOTS_RENDER_ADAPTER_SLOTS", 16),  # device tier
        lora_r_max=env_int("HEADSHOTS_RENDER_LORA_R_MAX", 64),  # highest servable rank
        adapter_cache_capacity=env_int("HEADSHOTS_RENDER_ADAPTER_CACHE", 64),  # host-RAM tier, adapters
        # Distinct prompts (style x subject phrase) whose text embeddings stay in memory.
        prompt_cache_capacity=env_int("HEADSHOTS_RENDER_PROMPT_CACHE", 256),
        # The dispatcher renders ceil(n * overgenerate) per style and delivers the n best (renderer.quality).
        overgenerate=env_float("HEADSHOTS_RENDER_OVERGENERATE", 1.25),
        # A style the gate left short is rendered again for its missing images, at most this many more rounds;
        # what is still missing then is reported as the render's shortfall.
        top_up_rounds=env_int("HEADSHOTS_RENDER_TOP_UP_ROUNDS", 2),
        device=env_str("HEADSHOTS_DEVICE", "auto"),
        dtype=env_str("HEADSHOTS_RENDER_DTYPE", "auto"),
        compile_unet=env_bool("HEADSHOTS_RENDER_COMPILE", False),
        # Ray sets OMP_NUM_THREADS to the actor's CPUs (1 by default); a CPU replica may want more.
        torch_threads=env_int("HEADSHOTS_RENDER_THREADS", 0),
        replicas=env_int("HEADSHOTS_RENDER_REPLICAS", 1),
        replica_cpus=env_float("HEADSHOTS_RENDER_REPLICA_CPUS", 1.0),
        replica_gpus=env_float("HEADSHOTS_RENDER_REPLICA_GPUS", 0.0),
        deletion_sweep_s=env_float("HEADSHOTS_RENDER_DELETION_SWEEP_S", 30.0),
        # "auto": on, except for the generated test model, which draws no faces (so `make demo` delivers).
        quality_gate=_gate(env_str("HEADSHOTS_QUALITY_GATE", "auto"), shared.base_model),
    )


def _gate(value: str, base_model: str) -> bool:
    if value not in ("auto", "on", "off"):
        raise ValueError(f"HEADSHOTS_QUALITY_GATE must be auto, on or off, not {value!r}")
    return not is_generated_test_model(base_model) if value == "auto" else value == "on"

"""End-to-end renderer throughput through Ray Serve's gRPC proxy (used by bench_mixed_lora.py).

`serve_renderer(...)` starts a fresh local Ray cluster and the renderer app (`renderer.app:app`, the
same deployment `python -m renderer.serve` runs) in this process, configured only through the
`HEADSHOTS_*` environment variables `renderer/config.py` reads: a base model folder, a blob store,
steps, batch size, threads; and any other applications it is given (the baselines), each reached through
the same gRPC proxy with the `application` metadata. It always shuts Serve and Ray down again.

`grpc_throughput(target, requests)` sends the requests as concurrent clients, one thread and one
channel per tenant (each tenant's requests in order, one at a time), all released together, and
returns the wall time until the last image arrived and each request's latency.

Ray's gRPC proxy binds every interface; traffic here only ever goes to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

SERVICER = "headshots.v1.renderer_service_pb2_grpc.add_RendererServiceServicer_to_server"
# With more than one application behind the proxy, every call names the one it is for.
RENDERER = [("application", "renderer")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Run:
    seconds: float
    latencies_s: list[float]  # each request's, from the common start to its last image

    def p95_s(self) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


@contextlib.contextmanager
def serve_renderer(
    env: dict[str, str], ready_timeout_s: float = 180, others: dict[str, Callable] | None = None
) -> Iterator[str]:
    """Ray + Serve + the renderer app (and `others`: name -> a function building an application, called
    with `env` set) with `env` set; yields the gRPC target on 127.0.0.1."""
    import ray
    from ray import serve
    from ray.serve.config import HTTPOptions, gRPCOptions

    grpc_port, http_port = free_port(), free_port()
    settings = {
        **env,
        "HEADSHOTS_RENDERER_GRPC_PORT": str(grpc_port),
        "HEADSHOTS_RENDERER_HTTP_PORT": str(http_port),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)  # inherited by the local raylet and so by the replica's worker process
    # A cluster of our own (never another session's), with a short session path (unix sockets < 108 bytes).
    ray_dir = tempfile.mkdtemp(prefix="hsray-bench-", dir="/tmp")
    try:
        ray.init(
            address="local",
            # Logical CPUs for scheduling only: every application's replica fits, whatever the machine's count.
            num_cpus=max(8, os.cpu_count() or 1),
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            _temp_dir=ray_dir,
        )
        try:
            serve.start(
                http_options=HTTPOptions(host="127.0.0.1", port=http_port),
                grpc_options=gRPCOptions(port=grpc_port, grpc_servicer_functions=[SERVICER]),
            )
            from renderer.app import app

            serve.run(app, name="renderer", route_prefix="/renderer")  # returns once the replica is ready
            for name, build in (others or {}).items():
                serve.run(build(), name=name, route_prefix=f"/{name}")
            target = f"127.0.0.1:{grpc_port}"
            wait_ready(target, ready_timeout_s)
            yield target
        finally:
            with contextlib.suppress(Exception):
                serve.shutdown()
            ray.shutdown()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(ray_dir, ignore_errors=True)


def wait_ready(target: str, timeout_s: float) -> None:
    import grpc

    from headshots.v1 import renderer_service_pb2 as pb, renderer_service_pb2_grpc as pb_grpc

    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(target) as channel:
        while True:
            try:
                pb_grpc.RendererServiceStub(channel).GetStats(pb.GetStatsRequest(), timeout=5, metadata=RENDERER)
                return
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def get_stats(target: str) -> dict:
    import grpc
    from google.protobuf.json_format import MessageToDict

    from headshots.v1 import renderer_service_pb2 as pb, renderer_service_pb2_grpc as pb_grpc

    with grpc.insecure_channel(target) as channel:
        reply = pb_grpc.RendererServiceStub(channel).GetStats(pb.GetStatsRequest(), timeout=30, metadata=RENDERER)
    return MessageToDict(reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def grpc_throughput(
    target: str,
    requests: Sequence,
    timeout_s: float = 600,
    application: str = "renderer",
    multiplexed: bool = False,
) -> Run:
    """All `requests` (RenderRequests), one client thread + channel per tenant, released together.

    `application`: which Serve application answers; `multiplexed`: send the adapter's key as the
    `multiplexed_model_id` (Ray Serve's model multiplexing)."""
    import grpc

    from headshots.v1 import renderer_service_pb2_grpc as pb_grpc

    by_tenant: OrderedDict[str, list] = OrderedDict()
    for request in requests:
        by_tenant.setdefault(request.adapter.adapter_id, []).append(request)
    expected = sum(len(r.items) for r in requests)
    barrier = threading.Barrier(len(by_tenant) + 1)
    received: list[int] = []
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    started = 0.0  # the common start, set when the clients are released

    def client(tenant_requests: list) -> None:
        with grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]) as channel:
            stub = pb_grpc.RendererServiceStub(channel)
            channel_ready = grpc.channel_ready_future(channel)
            channel_ready.result(timeout=30)  # connect before the clock starts
            barrier.wait()
            try:
                for request in tenant_requests:
                    metadata = [("application", application)]
                    if multiplexed:
                        metadata.append(("multiplexed_model_id", request.adapter.adapter_key))
                    replies = stub.Render(request, timeout=timeout_s, metadata=metadata)
                    count = sum(1 for response in replies if response.png)
                    with lock:
                        received.append(count)
                        latencies.append(time.perf_counter() - started)
            except BaseException as exc:  # reported by the caller
                with lock:
                    errors.append(exc)

    threads = [
        threading.Thread(target=client, args=(reqs,), name=f"client-{tenant}") for tenant, reqs in by_tenant.items()
    ]
    for thread in threads:
        thread.start()
    started = time.perf_counter()  # set before the barrier lets the clients go: they read it afterwards
    barrier.wait(timeout=60)
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} Render calls failed through gRPC: {errors[0]!r}") from errors[0]
    if sum(received) != expected:
        raise RuntimeError(f"expected {expected} images through gRPC, got {sum(received)}")
    return Run(elapsed, latencies)

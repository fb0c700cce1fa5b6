"""How the local stack tells that a service is ready: the probes the chart's pods answer, asked from the host."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from headshots_common.lifecycle import heartbeat_of


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def grpc_serving(target: str) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        with grpc.insecure_channel(target) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
            return reply.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False


def renderer_ready(target: str) -> bool:
    """The renderer answers GetStats once Ray Serve runs its deployment."""
    import grpc

    from headshots.v1 import renderer_service_pb2 as pb, renderer_service_pb2_grpc as pb_grpc

    try:
        with grpc.insecure_channel(target) as channel:
            pb_grpc.RendererServiceStub(channel).GetStats(pb.GetStatsRequest(), timeout=2)
            return True
    except grpc.RpcError:
        return False


def beating(var_dir: Path, process_name: str) -> bool:
    """Whether a worker's loop beat within the last 30 s (its heartbeat, as its liveness probe reads it)."""
    return heartbeat_of(var_dir, process_name).is_fresh(max_age_s=30)

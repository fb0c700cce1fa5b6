"""The partner gRPC server: PartnerService, google.longrunning Operations, health and reflection on one port.

Threads: as many as the stream cap allows streams, and SHORT_CALL_THREADS more for short calls, so long
streams never starve a GetOrder or a health check (`limits.StreamLimiter`). Keepalive pings find dead connections; the
largest message accepted is one photo at the upload cap, with room for its fields. TLS when the configuration names
a certificate and key (`partner_grpc.tls`), plaintext otherwise.
"""

from __future__ import annotations

from concurrent import futures

import grpc
from google.longrunning import operations_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gateway.config import CONFIG
from headshots.partner.v1 import partner_api_pb2, partner_api_pb2_grpc
from headshots_common.metrics import GrpcServerMetrics
from partner_grpc.limits import StreamLimiter
from partner_grpc.operations import OperationsService
from partner_grpc.service import PartnerService
from partner_grpc.tls import TlsFiles, server_credentials

PARTNER_SERVICE = partner_api_pb2.DESCRIPTOR.services_by_name["PartnerService"].full_name
OPERATIONS_SERVICE = "google.longrunning.Operations"
SHORT_CALL_THREADS = 32


def server_options() -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", CONFIG.max_photo_bytes + 1024 * 1024),
        ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_pings_without_data", 0),
    ]


def configured_tls() -> TlsFiles:
    return TlsFiles(CONFIG.grpc_tls_cert_file, CONFIG.grpc_tls_key_file, CONFIG.grpc_tls_client_ca_file)


def build_server(
    port: int, host: str = "127.0.0.1", streams: StreamLimiter | None = None, tls: TlsFiles | None = None
) -> grpc.Server:
    """`tls`: the certificate files (default: the configuration's; none set: plaintext). Raises
    `tls.TlsConfigError` for TLS settings that cannot serve, before anything listens."""
    credentials = server_credentials(configured_tls() if tls is None else tls)
    streams = streams or StreamLimiter(CONFIG.grpc_max_streams, CONFIG.grpc_max_streams_per_tenant)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=streams.max_streams + SHORT_CALL_THREADS, thread_name_prefix="rpc"),
        options=server_options(),
        interceptors=[GrpcServerMetrics()],
    )
    partner_api_pb2_grpc.add_PartnerServiceServicer_to_server(PartnerService(streams), server)
    operations_pb2_grpc.add_OperationsServicer_to_server(OperationsService(streams), server)
    health_servicer = health.HealthServicer()
    for name in ("", PARTNER_SERVICE, OPERATIONS_SERVICE):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (PARTNER_SERVICE, OPERATIONS_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = f"{host}:{port}"
    bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    if bound == 0:
        raise RuntimeError(f"cannot listen on {host}:{port}: the port is taken")
    return server

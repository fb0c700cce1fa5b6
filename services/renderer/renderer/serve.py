"""`python -m renderer.serve`: start local Ray, run the renderer app with its gRPC ingress, stop Ray on exit."""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any

log = logging.getLogger("renderer")
SERVICER = "headshots.v1.renderer_service_pb2_grpc.add_RendererServiceServicer_to_server"


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))  # Ray's gRPC proxy binds every interface
        except OSError:
            return False
    return True


def main() -> int:
    from headshots_common.basemodel import BaseModelMissing, resolve_base_model
    from headshots_common.lifecycle import stop_on_signals
    from headshots_common.logs import configure_logging
    from headshots_common.metrics import METRICS_PORT_ENV
    from headshots_common.settings import env_int
    from renderer.config import load

    configure_logging("renderer")

    config = load()
    try:
        resolve_base_model(config.shared.base_model)  # before Ray starts: a missing model is a clear error at once
    except BaseModelMissing as exc:
        log.error("renderer: %s", exc)
        return 2
    for port in (config.grpc_port, config.http_port):
        if not port_is_free(port):
            log.error(
                "renderer: port %d is taken; stop what uses it or set HEADSHOTS_RENDERER_GRPC_PORT / "
                "HEADSHOTS_RENDERER_HTTP_PORT",
                port,
            )
            return 2

    import ray
    from ray import serve
    from ray.serve.config import HTTPOptions, gRPCOptions
    from ray.serve.schema import LoggingConfig

    from renderer.app import app

    # Serve's driver-side logger writes plain text through a handler of its own: route it through ours (JSON).
    serve_logger = logging.getLogger("ray.serve")
    serve_logger.handlers.clear()
    serve_logger.propagate = True

    stop = stop_on_signals()
    # The replicas' metrics (renderer.observability) and Ray Serve's own leave through Ray's metrics export, on
    # HEADSHOTS_METRICS_PORT here as on every other service (in the cluster KubeRay sets Ray's port itself).
    metrics_port = env_int(METRICS_PORT_ENV, 0)
    metrics_export: dict[str, Any] = {"_metrics_export_port": metrics_port} if metrics_port else {}
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **metrics_export)
    try:
        serve.start(
            http_options=HTTPOptions(host="127.0.0.1", port=config.http_port),
            grpc_options=gRPCOptions(port=config.grpc_port, grpc_servicer_functions=[SERVICER]),
            logging_config=LoggingConfig(encoding="JSON"),
        )
        serve.run(app, name="renderer", route_prefix="/renderer", logging_config=LoggingConfig(encoding="JSON"))
        log.info("renderer: RendererService on 127.0.0.1:%d (Ray Serve gRPC)", config.grpc_port)
        stop.wait()
    finally:
        serve.shutdown()
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

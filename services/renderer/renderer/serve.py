"""`python -m renderer.serve`: start local Ray, run the renderer app with its gRPC ingress, stop Ray on exit."""

from __future__ import annotations

import socket
import sys

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
    from headshots_common.lifecycle import configure_logging, stop_on_signals
    from renderer.config import load

    configure_logging()

    config = load()
    try:
        resolve_base_model(config.shared.base_model)  # before Ray starts: a missing model is a clear error at once
    except BaseModelMissing as exc:
        print(f"renderer: {exc}", file=sys.stderr)
        return 2
    for port in (config.grpc_port, config.http_port):
        if not port_is_free(port):
            print(
                f"renderer: port {port} is taken; stop what uses it or set HEADSHOTS_RENDERER_GRPC_PORT / "
                "HEADSHOTS_RENDERER_HTTP_PORT",
                file=sys.stderr,
            )
            return 2

    import ray
    from ray import serve
    from ray.serve.config import HTTPOptions, gRPCOptions

    from renderer.app import app

    stop = stop_on_signals()
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        serve.start(
            http_options=HTTPOptions(host="127.0.0.1", port=config.http_port),
            grpc_options=gRPCOptions(port=config.grpc_port, grpc_servicer_functions=[SERVICER]),
        )
        serve.run(app, name="renderer", route_prefix="/renderer")
        print(f"renderer: RendererService on 127.0.0.1:{config.grpc_port} (Ray Serve gRPC)", flush=True)
        stop.wait()
    finally:
        serve.shutdown()
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

import logging

from django.core.management.base import BaseCommand

from gateway.config import CONFIG
from headshots_common import tracing
from headshots_common.lifecycle import stop_on_signals
from headshots_common.metrics import serve_metrics
from partner_grpc.server import build_server

log = logging.getLogger("partner_grpc")


class Command(BaseCommand):
    help = "Serve the gRPC partner API (with grpc.health.v1) until SIGTERM/SIGINT."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=CONFIG.partner_grpc_port)
        parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 in a container")

    def handle(self, port, host, **options):
        tracing.configure_tracing("gateway-grpc")
        serve_metrics()
        server = build_server(port, host)
        server.start()
        log.info("partner gRPC API on %s:%d", host, port)
        stop = stop_on_signals()
        stop.wait()
        server.stop(grace=5).wait()

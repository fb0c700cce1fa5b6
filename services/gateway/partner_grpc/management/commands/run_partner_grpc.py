import ipaddress
import logging

from django.core.management.base import BaseCommand, CommandError

from gateway.config import CONFIG
from headshots_common import tracing
from headshots_common.lifecycle import stop_on_signals
from headshots_common.metrics import serve_metrics
from partner_grpc.server import build_server, configured_tls
from partner_grpc.tls import TlsConfigError

log = logging.getLogger("partner_grpc")


class Command(BaseCommand):
    help = "Serve the gRPC partner API (with grpc.health.v1) until SIGTERM/SIGINT."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=CONFIG.partner_grpc_port)
        parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 in a container")

    def handle(self, port, host, **options):
        tracing.configure_tracing("gateway-grpc")
        serve_metrics()
        tls = configured_tls()
        try:
            server = build_server(port, host, tls=tls)
        except TlsConfigError as exc:
            raise CommandError(f"partner gRPC TLS: {exc}") from None
        server.start()
        if tls.enabled:
            client_certificates = ", client certificates required" if tls.client_ca_file else ""
            log.info("partner gRPC API on %s:%d over TLS (%s%s)", host, port, tls.cert_file, client_certificates)
        elif _loopback(host):
            log.info("partner gRPC API on %s:%d in plaintext (loopback only)", host, port)
        else:
            log.warning(
                "partner gRPC API on %s:%d in PLAINTEXT: keys cross the network unencrypted unless a TLS proxy (the "
                "chart's gRPC ingress) is in front; HEADSHOTS_GRPC_TLS_CERT_FILE and _KEY_FILE turn TLS on",
                host,
                port,
            )
        stop = stop_on_signals()
        stop.wait()
        server.stop(grace=5).wait()


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

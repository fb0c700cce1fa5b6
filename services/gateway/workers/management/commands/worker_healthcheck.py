from django.core.management.base import BaseCommand

from gateway.config import CONFIG
from headshots_common.lifecycle import heartbeat_of, probe
from workers.selectors import GATEWAY_WORKER


class Command(BaseCommand):
    help = "Exit 0 while the gateway worker's loops beat: `--max-age S` (its probes; liveness by default)."

    def add_arguments(self, parser):
        parser.add_argument("--max-age", type=float, default=None)

    def handle(self, **options):
        probe(
            heartbeat_of(CONFIG.shared.var_dir, GATEWAY_WORKER),
            [] if options["max_age"] is None else ["--max-age", str(options["max_age"])],
        )

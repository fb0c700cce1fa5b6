from django.core.management.base import BaseCommand

from checker.loop import PROCESS_NAME
from gateway.config import CONFIG
from headshots_common.lifecycle import heartbeat_of, probe


class Command(BaseCommand):
    help = "Exit 0 while the photo checker's loop beats: `--max-age S` (its probes; liveness by default)."

    def add_arguments(self, parser):
        parser.add_argument("--max-age", type=float, default=None)
        parser.add_argument("--name", default=PROCESS_NAME)

    def handle(self, **options):
        probe(
            heartbeat_of(CONFIG.shared.var_dir, options["name"]),
            [] if options["max_age"] is None else ["--max-age", str(options["max_age"])],
        )

import logging
import os

from django.core.management.base import BaseCommand

from checker.loop import PROCESS_NAME, run
from checker.observability import sample_backlog
from gateway.config import CONFIG
from headshots_common import tracing
from headshots_common.lifecycle import stop_on_signals
from headshots_common.metrics import Sampler, serve_metrics

log = logging.getLogger("checker")


class Command(BaseCommand):
    help = "Check uploaded photos (PhotoReceived events) until SIGTERM/SIGINT, at a lower CPU priority than the web."

    def add_arguments(self, parser):
        parser.add_argument("--name", default=PROCESS_NAME, help="its heartbeat's name (one per local process)")

    def handle(self, **options):
        stop = stop_on_signals()
        os.nice(CONFIG.checker_nice)  # the web's requests come first on a shared machine
        tracing.configure_tracing(PROCESS_NAME)
        serve_metrics()
        Sampler(sample_backlog, interval_s=5.0, name="photo-backlog").start()
        log.info("photo checker %s running (nice %d)", options["name"], os.nice(0))
        run(stop, options["name"])

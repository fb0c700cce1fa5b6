import logging

from django.core.management.base import BaseCommand

from headshots_common import tracing
from headshots_common.lifecycle import stop_on_signals
from headshots_common.metrics import serve_metrics
from workers.loops import run_worker

log = logging.getLogger("workers")


class Command(BaseCommand):
    help = "Run the background loops (outbox relay, pipeline events, webhooks, retention) until SIGTERM/SIGINT."

    def handle(self, **options):
        stop = stop_on_signals()
        tracing.configure_tracing("gateway-worker")
        serve_metrics()
        log.info("gateway worker: outbox relay, pipeline events, webhooks and retention running")
        run_worker(stop)

from django.core.management.base import BaseCommand

from headshots_common.lifecycle import stop_on_signals
from workers.loops import run_worker


class Command(BaseCommand):
    help = "Run the background loops (outbox relay, pipeline events, webhooks, retention) until SIGTERM/SIGINT."

    def handle(self, **options):
        stop = stop_on_signals()
        self.stderr.write("gateway worker: outbox relay, pipeline events, webhooks and retention running")
        run_worker(stop)

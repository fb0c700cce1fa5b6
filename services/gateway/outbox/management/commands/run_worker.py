from django.core.management.base import BaseCommand

from headshots_common.process import stop_on_signals
from outbox.worker import run_worker


class Command(BaseCommand):
    help = "Run the outbox relay and the pipeline-event consumer until SIGTERM/SIGINT."

    def handle(self, **options):
        stop = stop_on_signals()
        self.stderr.write("gateway worker: relaying the outbox and consuming pipeline events")
        run_worker(stop)

import signal
import threading

from django.core.management.base import BaseCommand

from outbox.worker import run_worker


class Command(BaseCommand):
    help = "Run the outbox relay and the pipeline-event consumer until SIGTERM/SIGINT."

    def handle(self, **options):
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.stderr.write("gateway worker: relaying the outbox and consuming pipeline events")
        run_worker(stop)

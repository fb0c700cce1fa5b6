import sys

from django.core.management.base import BaseCommand

from outbox.worker import is_healthy


class Command(BaseCommand):
    help = "Exit 0 while the gateway worker's loops are running (liveness probe)."

    def handle(self, **options):
        sys.exit(0 if is_healthy() else 1)

import sys

from django.core.management.base import BaseCommand

from workers.loops import HEARTBEAT


class Command(BaseCommand):
    help = "Exit 0 while the gateway worker's loops are running (liveness probe)."

    def handle(self, **options):
        sys.exit(0 if HEARTBEAT.is_fresh() else 1)

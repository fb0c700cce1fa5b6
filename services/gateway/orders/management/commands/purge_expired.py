from django.core.management.base import BaseCommand

from orders.services.retention import sweep


class Command(BaseCommand):
    help = (
        "The retention sweep once (the chart's CronJob), as the gateway worker runs it every minute: the training "
        "data whose retention ran out, and what a killed writer left under a recently deleted order."
    )

    def handle(self, **options):
        purged, leftovers = sweep()
        self.stdout.write(f"purged the training data of {purged} orders; removed {leftovers} leftover blobs")

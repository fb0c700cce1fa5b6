from django.core.management.base import BaseCommand

from orders.services.retention import purge_expired


class Command(BaseCommand):
    help = "Apply the retention policy now: delete selfies and adapters whose retention has run out (CronJob)."

    def handle(self, **options):
        self.stdout.write(f"purged the training data of {purge_expired()} orders")

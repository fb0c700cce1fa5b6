from django.core.management.base import BaseCommand

from accounts.models import Tenant
from accounts.services import create_tenant_with_key


class Command(BaseCommand):
    help = "Create a tenant (partner or consumer) and print its API key once."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--kind", choices=Tenant.Kind.values, default=Tenant.Kind.PARTNER)

    def handle(self, name, kind, **options):
        tenant, raw_key = create_tenant_with_key(name, kind)
        self.stderr.write(f"tenant {tenant.id} ({kind}) created; the key below is shown once")
        self.stdout.write(raw_key)

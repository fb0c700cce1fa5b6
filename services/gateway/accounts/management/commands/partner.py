from django.core.management.base import BaseCommand, CommandError

from accounts.models import Tenant
from accounts.services import create_tenant_with_key, revoke_api_keys


class Command(BaseCommand):
    help = "Manage partner organisations: create (prints the API key once), revoke a key, list."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a partner and print its API key and webhook secret once")
        create.add_argument("name")
        create.add_argument("--quota", type=int, default=None, help="orders per calendar month (default: none)")
        revoke = sub.add_parser("revoke", help="revoke an API key by its prefix (the part after hs_)")
        revoke.add_argument("prefix")
        sub.add_parser("list", help="list partners")

    def handle(self, action, **options):
        if action == "create":
            tenant, key = create_tenant_with_key(
                options["name"], Tenant.Kind.PARTNER, monthly_order_quota=options["quota"]
            )
            self.stderr.write(f"partner {tenant.id} created. Store these now: they are not shown again.")
            self.stderr.write(f"webhook signing secret: {tenant.webhook_secret}")
            self.stdout.write(key)
        elif action == "revoke":
            prefix = options["prefix"].removeprefix("hs_").split("_")[0]
            if not revoke_api_keys(prefix):
                raise CommandError(f"no active key with prefix {prefix!r}")
            self.stdout.write(f"revoked keys with prefix {prefix}")
        else:
            for tenant in Tenant.objects.filter(kind=Tenant.Kind.PARTNER).order_by("created_at"):
                keys = tenant.api_keys.filter(revoked_at__isnull=True).count()
                self.stdout.write(
                    f"{tenant.id}  {tenant.name}  active keys: {keys}  quota: {tenant.monthly_order_quota}"
                )

import re

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Tenant
from accounts.services import (
    KEY_PREFIX,
    TEST_KEY_PREFIX,
    create_tenant_with_key,
    key_prefix,
    revoke_api_key,
    revoke_api_keys,
)

# A whole key, `hs_<prefix>_<secret>` or `hs_test_<prefix>_<secret>`, as `issue_api_key` makes them.
WHOLE_KEY = re.compile(rf"(?:{TEST_KEY_PREFIX}|{KEY_PREFIX})[0-9a-f]+_.+")


class Command(BaseCommand):
    help = "Manage partner organisations: create (prints the API key once), revoke a key, list."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a partner and print its API key and webhook secret once")
        create.add_argument("name")
        create.add_argument("--quota", type=int, default=None, help="orders per calendar month (default: none)")
        create.add_argument(
            "--test",
            action="store_true",
            help=f"a test-mode partner: its key starts {TEST_KEY_PREFIX}, its orders get labelled placeholder "
            "headshots within seconds (no GPU), and it never sees live orders",
        )
        revoke = sub.add_parser(
            "revoke", help="revoke an API key: the whole key, or its prefix (the part after hs_) with --tenant"
        )
        revoke.add_argument("key", help="the whole key hs_..._..., or its prefix with --tenant")
        revoke.add_argument("--tenant", help="the partner's id (`list`): revoke its keys with this prefix")
        sub.add_parser("list", help="list partners")

    def handle(self, action, **options):
        if action == "create":
            tenant, key = create_tenant_with_key(
                options["name"], Tenant.Kind.PARTNER, monthly_order_quota=options["quota"], test_mode=options["test"]
            )
            mode = "test-mode partner" if tenant.test_mode else "partner"
            self.stderr.write(f"{mode} {tenant.id} created. Store these now: they are not shown again.")
            self.stderr.write(f"webhook signing secret: {tenant.webhook_secret}")
            self.stdout.write(key)
        elif action == "revoke":
            self._revoke(options["key"], options["tenant"])
        else:
            for tenant in Tenant.objects.filter(kind=Tenant.Kind.PARTNER).order_by("created_at"):
                keys = tenant.api_keys.filter(revoked_at__isnull=True).count()
                mode = "  (test mode)" if tenant.test_mode else ""
                self.stdout.write(
                    f"{tenant.id}  {tenant.name}  active keys: {keys}  quota: {tenant.monthly_order_quota}{mode}"
                )

    def _revoke(self, key: str, tenant_id: str | None) -> None:
        if tenant_id is None:
            if not WHOLE_KEY.fullmatch(key):
                raise CommandError(
                    "a prefix alone may match several partners' keys: pass the whole key, or the prefix with "
                    "--tenant ID (see `list`)"
                )
            if not revoke_api_key(key):
                raise CommandError("no active key matches this key")
            self.stdout.write(f"revoked key {key_prefix(key)}")
            return
        try:
            tenant = Tenant.objects.get(pk=tenant_id)
        except (Tenant.DoesNotExist, ValidationError):
            raise CommandError(f"no tenant {tenant_id!r}") from None
        prefix = key_prefix(key)
        if not revoke_api_keys(tenant, prefix):
            raise CommandError(f"tenant {tenant.id} has no active key with prefix {prefix!r}")
        self.stdout.write(f"revoked tenant {tenant.id}'s keys with prefix {prefix}")

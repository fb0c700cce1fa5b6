"""Partner keys from the CLI, revocation. (Consumer accounts: test_consumer_accounts.py.)"""

import io
import secrets

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from accounts.models import ApiKey, Tenant
from accounts.services import hash_key


def test_partner_cli_prints_a_key_once_and_revocation_locks_it_out(db):
    out, err = io.StringIO(), io.StringIO()
    call_command("partner", "create", "Acme HR", "--quota", "100", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert key.startswith("hs_") and "whsec_" in err.getvalue()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.post("/v1/orders", {"package": "basic", "styles": ["tech-grey"]}, format="json").status_code == 201

    call_command("partner", "revoke", key, stdout=io.StringIO())
    response = client.get("/v1/styles")  # public
    assert response.status_code == 200
    response = client.post("/v1/orders", {"package": "basic", "styles": ["tech-grey"]}, format="json")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"


def _key_with_prefix(tenant, prefix: str) -> str:
    """A key row made directly with a chosen prefix: two tenants' 8-hex prefixes can collide."""
    raw_key = f"hs_{prefix}_{secrets.token_urlsafe(32)}"
    ApiKey.objects.create(tenant=tenant, prefix=prefix, key_hash=hash_key(raw_key))
    return raw_key


def _works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.get("/v1/orders").status_code == 200


def test_revoking_one_partners_key_leaves_another_partners_key_with_the_same_prefix_working(db):
    acme, globex = Tenant.objects.create(name="acme"), Tenant.objects.create(name="globex")
    acme_key, globex_key = _key_with_prefix(acme, "abcd1234"), _key_with_prefix(globex, "abcd1234")
    assert _works(acme_key) and _works(globex_key)

    # The whole key names one key: only it is revoked.
    call_command("partner", "revoke", acme_key, stdout=io.StringIO())
    assert not _works(acme_key)
    assert _works(globex_key), "revoking acme's key revoked globex's key too"

    # A prefix alone may name several partners' keys: the command wants the partner as well.
    with pytest.raises(CommandError, match="--tenant"):
        call_command("partner", "revoke", "abcd1234", stdout=io.StringIO())
    assert _works(globex_key)
    other_acme_key = _key_with_prefix(acme, "abcd1234")
    call_command("partner", "revoke", "abcd1234", "--tenant", str(acme.id), stdout=io.StringIO())
    assert not _works(other_acme_key) and _works(globex_key)

"""Writes for tenants and API keys."""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction

from accounts.models import ApiKey, Tenant

KEY_PREFIX = "hs_"


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@transaction.atomic
def create_tenant_with_key(name: str, kind: str = Tenant.Kind.PARTNER) -> tuple[Tenant, str]:
    """Create a tenant and its first API key; the raw key is returned once and never stored."""
    tenant = Tenant.objects.create(name=name, kind=kind)
    return tenant, issue_api_key(tenant)


def issue_api_key(tenant: Tenant) -> str:
    prefix = secrets.token_hex(4)
    raw_key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    ApiKey.objects.create(tenant=tenant, prefix=prefix, key_hash=hash_key(raw_key))
    return raw_key

"""Reads for tenants and API keys."""

from __future__ import annotations

from accounts.models import ApiKey, Tenant
from accounts.services import hash_key


def tenant_for_key(raw_key: str) -> Tenant | None:
    """The tenant owning an active key, or None."""
    key = (
        ApiKey.objects.select_related("tenant")
        .filter(key_hash=hash_key(raw_key), revoked_at__isnull=True)
        .first()
    )
    return key.tenant if key else None

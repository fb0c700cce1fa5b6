"""Reads for tenants and API keys."""

from __future__ import annotations

from django.core.cache import cache

from accounts.models import ApiKey, Tenant
from accounts.services import hash_key
from gateway.config import CONFIG


def _cache_key(key_hash: str) -> str:
    return f"apikey:{key_hash}"


def tenant_for_key(raw_key: str) -> Tenant | None:
    """The tenant owning an active key, or None.

    Every authenticated request asks this, so answers are cached for a short
    while (HEADSHOTS_AUTH_CACHE_S). Revocation clears the shared cache entry; a
    process-local cache forgets it within the same bound.
    """
    key_hash = hash_key(raw_key)
    cached = cache.get(_cache_key(key_hash))
    if cached is not None:
        return cached or None  # False: a known-bad key
    key = ApiKey.objects.select_related("tenant").filter(key_hash=key_hash, revoked_at__isnull=True).first()
    tenant = key.tenant if key else None
    cache.set(_cache_key(key_hash), tenant or False, CONFIG.auth_cache_s)
    return tenant


def forget_keys(key_hashes: list[str]) -> None:
    cache.delete_many([_cache_key(h) for h in key_hashes])

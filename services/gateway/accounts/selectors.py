"""Reads for tenants and API keys."""

from __future__ import annotations

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from accounts.models import ApiKey, Tenant
from accounts.services import hash_key
from gateway.config import CONFIG


def key_cache_key(key_hash: str) -> str:
    return f"apikey:{key_hash}"


def tenant_for_key(raw_key: str) -> Tenant | None:
    """The tenant owning an active (not revoked, not expired) key, or None.

    Every authenticated request resolves its key. With a shared cache (Redis) the answer is kept there for
    HEADSHOTS_AUTH_CACHE_S and revoking clears it for every process at once; without one every request
    asks the database, so no process can keep a revoked key working.
    """
    key_hash = hash_key(raw_key)
    if CONFIG.shared_cache:
        cached = cache.get(key_cache_key(key_hash))
        if cached is not None:
            key = cached
            return key.tenant if key.active else None
    key = ApiKey.objects.select_related("tenant").filter(key_hash=key_hash, revoked_at__isnull=True).first()
    if key is None:
        return None
    if CONFIG.shared_cache:
        cache.set(key_cache_key(key_hash), key, timeout=CONFIG.auth_cache_s)
    return key.tenant if key.active else None


def keys_of(tenant: Tenant) -> QuerySet[ApiKey]:
    """The tenant's keys and tokens, newest first (revoked and expired ones included, for the record)."""
    return ApiKey.objects.filter(tenant=tenant).order_by("-created_at")


def consumer_for_session(tenant_id) -> Tenant | None:
    """The consumer a studio session is signed in as, or None (no session, or the account is gone)."""
    if not tenant_id:
        return None
    try:
        return Tenant.objects.filter(pk=tenant_id, kind=Tenant.Kind.CONSUMER).first()
    except (ValueError, ValidationError):  # a session value that is not a tenant id
        return None

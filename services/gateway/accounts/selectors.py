"""Reads for tenants and API keys."""

from __future__ import annotations

import threading
import time

from accounts.models import ApiKey, Tenant
from accounts.services import hash_key
from gateway.config import CONFIG

# Every authenticated request resolves its key, so answers are kept in the process for
# HEADSHOTS_AUTH_CACHE_S: a revoked key stops working within that bound everywhere.
_known: dict[str, tuple[float, Tenant | None]] = {}
_known_lock = threading.Lock()
_MAX_KNOWN = 10_000


def tenant_for_key(raw_key: str) -> Tenant | None:
    """The tenant owning an active key, or None."""
    key_hash = hash_key(raw_key)
    now = time.monotonic()
    cached = _known.get(key_hash)
    if cached is not None and cached[0] > now:
        return cached[1]
    key = ApiKey.objects.select_related("tenant").filter(key_hash=key_hash, revoked_at__isnull=True).first()
    tenant = key.tenant if key else None
    with _known_lock:
        if len(_known) >= _MAX_KNOWN:
            _known.clear()
        _known[key_hash] = (now + CONFIG.auth_cache_s, tenant)
    return tenant


def forget_keys(key_hashes: list[str]) -> None:
    """Forget revoked keys in this process at once (other processes within HEADSHOTS_AUTH_CACHE_S)."""
    with _known_lock:
        for key_hash in key_hashes:
            _known.pop(key_hash, None)

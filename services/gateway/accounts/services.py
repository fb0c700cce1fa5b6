"""Writes for tenants, API keys and consumer sign-up."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiKey, Tenant
from gateway.config import CONFIG
from gateway.errors import Conflict, InvalidArgument, NotFound, Unauthenticated

KEY_PREFIX = "hs_"
MIN_PASSWORD_LENGTH = 10


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@transaction.atomic
def create_tenant_with_key(
    name: str, kind: str = Tenant.Kind.PARTNER, *, monthly_order_quota: int | None = None
) -> tuple[Tenant, str]:
    """Create a tenant and its first API key; the raw key is returned once and never stored."""
    tenant = Tenant.objects.create(
        name=name, kind=kind, monthly_order_quota=monthly_order_quota, webhook_secret=new_webhook_secret()
    )
    return tenant, issue_api_key(tenant)


def issue_api_key(tenant: Tenant, kind: str = ApiKey.Kind.API_KEY) -> str:
    """A new bearer key (a personal token expires after HEADSHOTS_TOKEN_TTL_HOURS); returned once, stored hashed."""
    prefix = secrets.token_hex(4)
    raw_key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    expires_at = (
        timezone.now() + timedelta(hours=CONFIG.token_ttl_hours) if kind == ApiKey.Kind.PERSONAL_TOKEN else None
    )
    ApiKey.objects.create(tenant=tenant, kind=kind, prefix=prefix, key_hash=hash_key(raw_key), expires_at=expires_at)
    return raw_key


def revoke_api_keys(prefix: str, tenant: Tenant | None = None) -> int:
    """Revoke the active keys starting `hs_<prefix>_` (of `tenant` only, when given); returns how many.

    Takes effect in every gateway process at once: the shared cache entry goes with the database row.
    """
    from accounts.selectors import key_cache_key

    keys = ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True)
    if tenant is not None:
        keys = keys.filter(tenant=tenant)
    hashes = list(keys.values_list("key_hash", flat=True))
    revoked = keys.update(revoked_at=timezone.now())
    if CONFIG.shared_cache:
        cache.delete_many([key_cache_key(h) for h in hashes])
    return revoked


def revoke_token(tenant: Tenant, prefix: str) -> ApiKey:
    """Revoke one of the caller's own keys or tokens by its prefix (signing out, or a lost device)."""
    key = ApiKey.objects.filter(tenant=tenant, prefix=prefix).first()
    if key is None:
        raise NotFound("token")
    revoke_api_keys(prefix, tenant)
    key.refresh_from_db()
    return key


def create_consumer(email: str, password: str, name: str = "") -> Tenant:
    """A consumer account (the studio signs it in with a session; the API gives it a token)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidArgument("weak_password", f"use at least {MIN_PASSWORD_LENGTH} characters")
    try:
        with transaction.atomic():
            return Tenant.objects.create(
                name=name or email,
                kind=Tenant.Kind.CONSUMER,
                email=email.lower(),
                password_hash=make_password(password),
            )
    except IntegrityError:
        raise Conflict("email_taken", "an account with this email exists; sign in instead") from None


def authenticate_consumer(email: str, password: str) -> Tenant:
    tenant = Tenant.objects.filter(email=email.lower(), kind=Tenant.Kind.CONSUMER).first()
    if tenant is None:
        make_password(password)  # hash anyway: response time does not reveal which emails have accounts
    if tenant is None or not check_password(password, tenant.password_hash):
        raise Unauthenticated("invalid_credentials", "wrong email or password")
    return tenant


def sign_up_consumer(email: str, password: str, name: str = "") -> tuple[Tenant, str]:
    with transaction.atomic():
        tenant = create_consumer(email, password, name)
        return tenant, issue_api_key(tenant, ApiKey.Kind.PERSONAL_TOKEN)


def token_for_consumer(email: str, password: str) -> tuple[Tenant, str]:
    tenant = authenticate_consumer(email, password)
    return tenant, issue_api_key(tenant, ApiKey.Kind.PERSONAL_TOKEN)

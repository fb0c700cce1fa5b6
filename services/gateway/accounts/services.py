"""Writes for tenants, API keys and consumer sign-up."""

from __future__ import annotations

import base64
import hashlib
import secrets

from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiKey, Tenant
from gateway.errors import Conflict, InvalidArgument, Unauthenticated

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


def issue_api_key(tenant: Tenant) -> str:
    prefix = secrets.token_hex(4)
    raw_key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    ApiKey.objects.create(tenant=tenant, prefix=prefix, key_hash=hash_key(raw_key))
    return raw_key


def revoke_api_keys(prefix: str) -> int:
    """Revoke the active keys starting `hs_<prefix>_`; returns how many."""
    from accounts.selectors import forget_keys

    keys = ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True)
    hashes = list(keys.values_list("key_hash", flat=True))
    revoked = keys.update(revoked_at=timezone.now())
    forget_keys(hashes)
    return revoked


def sign_up_consumer(email: str, password: str, name: str = "") -> tuple[Tenant, str]:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidArgument("weak_password", f"use at least {MIN_PASSWORD_LENGTH} characters")
    try:
        with transaction.atomic():
            tenant = Tenant.objects.create(
                name=name or email,
                kind=Tenant.Kind.CONSUMER,
                email=email.lower(),
                password_hash=make_password(password),
            )
            return tenant, issue_api_key(tenant)
    except IntegrityError:
        raise Conflict("email_taken", "an account with this email exists; sign in instead") from None


def token_for_consumer(email: str, password: str) -> tuple[Tenant, str]:
    tenant = Tenant.objects.filter(email=email.lower(), kind=Tenant.Kind.CONSUMER).first()
    if tenant is None:
        make_password(password)  # hash anyway: response time does not reveal which emails have accounts
    if tenant is None or not check_password(password, tenant.password_hash):
        raise Unauthenticated("invalid_credentials", "wrong email or password")
    return tenant, issue_api_key(tenant)

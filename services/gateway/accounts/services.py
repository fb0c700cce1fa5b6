"""Writes for tenants, API keys and consumers (sign-up, e-mail verification, sign-in, password reset)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts import links, mails
from accounts.models import ApiKey, Tenant
from gateway import ratelimit
from gateway.config import CONFIG
from gateway.errors import Conflict, InvalidArgument, NotFound, ResourceExhausted, Unauthenticated

KEY_PREFIX = "hs_"
# What a test-mode partner's keys start with, so that nobody takes one for a live key (Stripe's sk_test_).
TEST_KEY_PREFIX = f"{KEY_PREFIX}test_"


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@transaction.atomic
def create_tenant_with_key(
    name: str, kind: str = Tenant.Kind.PARTNER, *, monthly_order_quota: int | None = None, test_mode: bool = False
) -> tuple[Tenant, str]:
    """Create a tenant and its first API key; the raw key is returned once and never stored."""
    tenant = Tenant.objects.create(
        name=name,
        kind=kind,
        monthly_order_quota=monthly_order_quota,
        webhook_secret=new_webhook_secret(),
        test_mode=test_mode,
    )
    return tenant, issue_api_key(tenant)


def issue_api_key(tenant: Tenant, kind: str = ApiKey.Kind.API_KEY) -> str:
    """A new bearer key (a personal token expires after HEADSHOTS_TOKEN_TTL_HOURS); returned once, stored hashed."""
    prefix = secrets.token_hex(4)
    raw_key = f"{TEST_KEY_PREFIX if tenant.test_mode else KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    expires_at = (
        timezone.now() + timedelta(hours=CONFIG.token_ttl_hours) if kind == ApiKey.Kind.PERSONAL_TOKEN else None
    )
    ApiKey.objects.create(tenant=tenant, kind=kind, prefix=prefix, key_hash=hash_key(raw_key), expires_at=expires_at)
    return raw_key


def _revoke(keys: QuerySet[ApiKey]) -> int:
    """Revoke the active ones of `keys`; returns how many.

    Takes effect in every gateway process at once: the shared cache entry goes with the database row.
    """
    from accounts.selectors import key_cache_key

    keys = keys.filter(revoked_at__isnull=True)
    hashes = list(keys.values_list("key_hash", flat=True))
    revoked = keys.update(revoked_at=timezone.now())
    if CONFIG.shared_cache:
        cache.delete_many([key_cache_key(h) for h in hashes])
    return revoked


def revoke_api_key(raw_key: str) -> int:
    """Revoke the one key `raw_key` is, found by its hash (a prefix alone may be another tenant's too); 0 or 1."""
    return _revoke(ApiKey.objects.filter(key_hash=hash_key(raw_key)))


def key_prefix(key: str) -> str:
    """The part of a key (`hs_<prefix>_…`, `hs_test_<prefix>_…`) or of a prefix as typed that names the key."""
    return key.removeprefix(TEST_KEY_PREFIX).removeprefix(KEY_PREFIX).split("_")[0]


def revoke_api_keys(tenant: Tenant, prefix: str) -> int:
    """Revoke `tenant`'s active keys starting `hs_<prefix>_` (or `hs_test_<prefix>_`); returns how many.

    The tenant is required: prefixes are 8 hex characters, so two tenants' keys can share one.
    """
    return _revoke(ApiKey.objects.filter(tenant=tenant, prefix=prefix))


def revoke_token(tenant: Tenant, prefix: str) -> ApiKey:
    """Revoke one of the caller's own keys or tokens by its prefix (signing out, or a lost device)."""
    key = ApiKey.objects.filter(tenant=tenant, prefix=prefix).first()
    if key is None:
        raise NotFound("token")
    revoke_api_keys(tenant, prefix)
    key.refresh_from_db()
    return key


def revoke_personal_tokens(tenant: Tenant) -> int:
    """Sign the consumer out of every device and app (a password reset): all their personal tokens."""
    return _revoke(ApiKey.objects.filter(tenant=tenant, kind=ApiKey.Kind.PERSONAL_TOKEN))


# -- consumers: sign-up, e-mail verification, sign-in, password reset ---------------------------------------------
def normalise_email(email: str) -> str:
    """An e-mail address as accounts are found by it (and sign-in failures counted)."""
    return email.strip().lower()


def check_password_strength(password: str, *, email: str, name: str = "") -> None:
    """Django's validators (AUTH_PASSWORD_VALIDATORS); raises InvalidArgument `weak_password` naming each problem."""
    try:
        validate_password(password, user=Tenant(email=email, name=name))
    except ValidationError as exc:
        raise InvalidArgument(
            "weak_password", " ".join(exc.messages), details={"fields": {"password": exc.messages}}
        ) from None


def sign_up_consumer(email: str, password: str, name: str = "", next_path: str = "") -> None:
    """A new, unverified consumer account and a verification link e-mailed to it (going on to the studio page
    `next_path`, where given, once followed).

    To an address that has an account already, an e-mail saying someone tried to sign up instead. The caller sees
    the same either way, and it takes as long (the password is hashed in both), so sign-up tells no one which
    addresses have accounts.
    """
    email = normalise_email(email)
    check_password_strength(password, email=email, name=name)
    password_hash = make_password(password)
    try:
        with transaction.atomic():
            tenant = Tenant.objects.create(
                name=name or email, kind=Tenant.Kind.CONSUMER, email=email, password_hash=password_hash
            )
            mails.verify_email(tenant, next_path)
    except IntegrityError:
        mails.sign_up_attempted(email)


def _invalid_link() -> InvalidArgument:
    return InvalidArgument("invalid_link", "this link is wrong, used already or expired; ask for a new one")


def verify_email(token: str) -> Tenant:
    """Follow the link of the verification e-mail: the consumer may now submit orders. Works once."""
    tenant = links.VERIFY_EMAIL.consumer(token)
    if tenant is None:
        raise _invalid_link()
    # Conditional: of two clicks at once, one verifies.
    if not Tenant.objects.filter(pk=tenant.pk, email_verified_at__isnull=True).update(email_verified_at=timezone.now()):
        raise _invalid_link()
    tenant.refresh_from_db()
    return tenant


def resend_verification(tenant: Tenant, next_path: str = "") -> None:
    """A new verification link (going on to the studio page `next_path`, where given: the page it was asked from)."""
    if tenant.kind != Tenant.Kind.CONSUMER or not tenant.email:
        raise Conflict("no_email", "this account has no e-mail address to verify")
    if tenant.email_verified_at is not None:
        raise Conflict("email_already_verified", "your e-mail address is verified already")
    mails.verify_email(tenant, next_path)


def _signin_limits() -> tuple[ratelimit.Backoff, ratelimit.Backoff]:
    """Failed sign-ins counted per client address and per account (the address tried), in the shared cache."""
    by_address = ratelimit.Backoff(
        "signin_address", CONFIG.signin_address_lockout_after, CONFIG.signin_lockout_s, CONFIG.signin_lockout_max_s
    )
    by_account = ratelimit.Backoff(
        "signin_account", CONFIG.signin_lockout_after, CONFIG.signin_lockout_s, CONFIG.signin_lockout_max_s
    )
    return by_address, by_account


def authenticate_consumer(email: str, password: str, client_address: str) -> Tenant:
    """The consumer with this e-mail and password, or Unauthenticated `invalid_credentials`.

    Failed tries back off per client address and per account, checked before the password is hashed (a refused
    try costs nothing); any address gets the same limits, so they reveal no account either. A success forgets the
    account's failures.
    """
    email = normalise_email(email)
    account = ratelimit.private_ident(email)
    by_address, by_account = _signin_limits()
    address_try = by_address.begin(ratelimit.address_ident(client_address))
    try:
        by_account.begin(account)
    except ResourceExhausted:
        by_address.release(address_try)
        raise
    tenant = Tenant.objects.filter(email=email, kind=Tenant.Kind.CONSUMER).first()
    if tenant is None:
        make_password(password)  # hash anyway: response time does not reveal which emails have accounts
    if tenant is None or not check_password(password, tenant.password_hash):
        raise Unauthenticated("invalid_credentials", "wrong email or password")
    by_account.reset(account)
    by_address.release(address_try)
    return tenant


def token_for_consumer(email: str, password: str, client_address: str) -> tuple[Tenant, str]:
    tenant = authenticate_consumer(email, password, client_address)
    return tenant, issue_api_key(tenant, ApiKey.Kind.PERSONAL_TOKEN)


def request_password_reset(email: str) -> None:
    """E-mail a reset link to the account's address; an address without an account is told there is none (so the
    answer, and the time it takes, are the same either way)."""
    email = normalise_email(email)
    tenant = Tenant.objects.filter(email=email, kind=Tenant.Kind.CONSUMER).first()
    if tenant is None:
        mails.no_account_to_reset(email)
    else:
        mails.reset_password(tenant)


def reset_password(token: str, password: str) -> Tenant:
    """Follow the reset link with a new password. It works once; every personal token of the account is revoked,
    the address counts as verified (the link reached it) and the account's sign-in failures are forgotten."""
    tenant = links.RESET_PASSWORD.consumer(token)
    if tenant is None:
        raise _invalid_link()
    check_password_strength(password, email=tenant.email or "", name=tenant.name)
    with transaction.atomic():
        # Conditional on the password the link was made for: of two uses at once, one changes it.
        changed = Tenant.objects.filter(pk=tenant.pk, password_hash=tenant.password_hash).update(
            password_hash=make_password(password),
            email_verified_at=Coalesce(F("email_verified_at"), Value(timezone.now())),
        )
        if not changed:
            raise _invalid_link()
        revoke_personal_tokens(tenant)
    _signin_limits()[1].reset(ratelimit.private_ident(normalise_email(tenant.email or "")))
    tenant.refresh_from_db()
    return tenant

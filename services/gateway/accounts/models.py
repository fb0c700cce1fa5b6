import uuid

from django.db import models
from django.utils import timezone


class Tenant(models.Model):
    """Who owns orders: a B2B partner organisation or a consumer."""

    class Kind(models.TextChoices):
        PARTNER = "partner"
        CONSUMER = "consumer"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Consumers sign in with email and password; partners only hold API keys.
    email = models.EmailField(unique=True, null=True, blank=True)
    password_hash = models.CharField(max_length=200, blank=True, default="")
    # When the consumer followed the link e-mailed to them; until then they may prepare orders but not submit one.
    email_verified_at = models.DateTimeField(null=True, blank=True)
    # Orders allowed per calendar month; null means no quota.
    monthly_order_quota = models.PositiveIntegerField(null=True, blank=True)
    # Standard Webhooks signing secret ("whsec_" + base64), shown to the partner once at creation.
    webhook_secret = models.CharField(max_length=100, blank=True, default="")
    # A test-mode partner (`partner create NAME --test`): its keys start `hs_test_`, its orders are done by the
    # gateway worker's placeholder pipeline (orders.services.test_mode), never by the trainer or renderer, and
    # being a tenant of its own it never sees, nor counts against, live orders.
    test_mode = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.kind}:{self.name}"


class ApiKey(models.Model):
    """A bearer key; only its SHA-256 is stored (keys are long random secrets, so a fast hash is enough)."""

    class Kind(models.TextChoices):
        API_KEY = "api_key"  # a partner's key, issued by an operator; lives until revoked
        PERSONAL_TOKEN = "personal_token"  # a consumer's token from sign-up or sign-in; expires

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.API_KEY)
    prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    @property
    def active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

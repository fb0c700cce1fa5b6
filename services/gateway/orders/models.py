import json
import uuid

from django.db import models
from django.utils import timezone

from accounts.models import Tenant
from orders.policy import DEFAULT_RETENTION_HOURS, DEFAULT_SUBJECT_CLASS
from orders.representation import order_representation


class Order(models.Model):
    class State(models.TextChoices):
        AWAITING_PHOTOS = "awaiting_photos"
        QUEUED = "queued"
        TRAINING = "training"
        RENDERING = "rendering"
        COMPLETED = "completed"
        FAILED = "failed"
        DELETED = "deleted"

    FINAL_STATES = (State.COMPLETED, State.FAILED, State.DELETED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="orders")
    package = models.CharField(max_length=32)
    style_ids = models.JSONField(default=list)
    subject_class = models.CharField(max_length=32, default=DEFAULT_SUBJECT_CLASS)
    state = models.CharField(max_length=20, choices=State.choices, default=State.AWAITING_PHOTOS)
    progress_stage = models.CharField(max_length=20, default="upload")
    progress_percent = models.PositiveSmallIntegerField(default=0)
    eta_seconds = models.FloatField(null=True, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True, default="")
    retention_hours = models.PositiveIntegerField(default=DEFAULT_RETENTION_HOURS)
    webhook_url = models.URLField(max_length=500, blank=True, default="")
    # The order's trace (W3C traceparent; "" when tracing is off): every span of the order is its child.
    traceparent = models.CharField(max_length=64, blank=True, default="")
    adapter_key = models.CharField(max_length=300, blank=True, default="")
    # Kept in step by the services (same transaction as the rows they count): status reads are one row.
    photos_accepted = models.PositiveIntegerField(default=0)
    headshots_ready = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # The order as GET /v1/orders/{id} shows it, rendered on every save: clients poll that call
    # while an order trains, and reading one column is ~15x cheaper than building the model.
    status_json = models.TextField(default="{}")
    # orders.readiness.assess of the accepted photos, kept up to date as photos come and go.
    readiness = models.JSONField(default=dict)
    # Every render's quality report added up (orders.quality): GET /v1/orders/{id}/report.
    quality = models.JSONField(default=dict)
    submitted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # When photos and adapter are purged: retention_hours after delivery, never later than
    # policy.MAX_RETENTION after creation. Set at creation (the cap) and again on delivery.
    purge_at = models.DateTimeField(null=True, blank=True, db_index=True)
    training_data_purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-created_at"], name="order_tenant_created_idx")]

    def save(self, *args, **kwargs):
        self.updated_at = timezone.now()
        self.status_json = json.dumps(order_representation(self), separators=(",", ":"))
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "updated_at", "status_json"}
        super().save(*args, **kwargs)


class RenderRequest(models.Model):
    """More headshots from an order's stored adapter ("20 more in another style"), without retraining."""

    class State(models.TextChoices):
        PENDING = "pending"
        COMPLETED = "completed"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="render_requests")
    style_id = models.CharField(max_length=64)
    count = models.PositiveSmallIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    failure_reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)


class IdempotencyRecord(models.Model):
    """The first response to a request made with an Idempotency-Key, replayed for retries (Stripe semantics)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="idempotency_unique_key")]


class DeletionReceipt(models.Model):
    """Proof of a purge: what was deleted, when, and a digest of every deleted blob key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    order_id = models.UUIDField(db_index=True)
    reason = models.CharField(max_length=32)  # "user_request" or "retention"
    photos_deleted = models.PositiveIntegerField()
    headshots_deleted = models.PositiveIntegerField()
    blobs_deleted = models.PositiveIntegerField()
    blob_keys_sha256 = models.CharField(max_length=64)
    remaining_blobs = models.PositiveIntegerField()
    deleted_at = models.DateTimeField(auto_now_add=True)
    # What each process that held the order's data in memory reported dropping, as it reports it
    # (renderer replicas: adapters and prompt embeddings): [{"purged_by", "entries", "purged_at"}].
    cache_purges = models.JSONField(default=list)


class Photo(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="photos")
    blob_key = models.CharField(max_length=300)
    original_filename = models.CharField(max_length=255, blank=True, default="")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    # 128-d identity embedding: later uploads are compared with it (near-duplicates, a different person).
    embedding = models.JSONField(default=list)
    # Head pose, sharpness and face luminance measured by the check (orders.readiness advises from them).
    traits = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)


class Headshot(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="headshots")
    blob_key = models.CharField(max_length=300, unique=True)
    style_id = models.CharField(max_length=64)
    seed = models.BigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    likeness_score = models.FloatField(default=0.0)
    # Photo quality (1 - BRISQUE/100) and identity similarity to the order's other headshots, both 0-1.
    quality_score = models.FloatField(default=0.0)
    consistency_score = models.FloatField(default=0.0)
    # False when the base model's quality gate was off (the generated test model): not checked.
    gated = models.BooleanField(default=False)
    render_request = models.ForeignKey(RenderRequest, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "blob_key"]

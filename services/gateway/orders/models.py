import uuid

from django.db import models

from accounts.models import Tenant


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
    subject_class = models.CharField(max_length=32, default="person")
    state = models.CharField(max_length=20, choices=State.choices, default=State.AWAITING_PHOTOS)
    progress_stage = models.CharField(max_length=20, default="upload")
    progress_percent = models.PositiveSmallIntegerField(default=0)
    eta_seconds = models.FloatField(null=True, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True, default="")
    retention_hours = models.PositiveIntegerField(default=24)
    webhook_url = models.URLField(blank=True, default="")
    adapter_key = models.CharField(max_length=300, blank=True, default="")
    # Caller's idempotency key (gRPC request_id): creating twice with it returns the first order.
    request_id = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-created_at"], name="order_tenant_created_idx")]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "request_id"], condition=~models.Q(request_id=""),
                                    name="order_unique_request_id"),
        ]


class Photo(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="photos")
    blob_key = models.CharField(max_length=300)
    original_filename = models.CharField(max_length=255, blank=True, default="")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "blob_key"]

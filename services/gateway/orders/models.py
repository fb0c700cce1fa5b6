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
    # The exact render settings of a fixed look (a team's brand look, `teams`): {"style_id", "style_name",
    # "prompt", "negative_prompt", "sampler", "num_inference_steps", "guidance_scale", "seed_base"}, recorded at
    # creation so that the order renders the same whenever it is submitted; empty: its styles' catalogue prompts.
    render_look = models.JSONField(default=dict, blank=True)
    # A test order (`orders.services.test_mode`): a test-mode partner's, or a member's in a team a test-mode partner
    # made. Fixed at creation: the placeholder pipeline does it, and it is counted apart from live orders.
    test_mode = models.BooleanField(default=False)
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
    # Each photo and its verdict as GET /v1/orders/{id} shows them (`Photo.summary`), kept in step with the rows by
    # the photo services, so that status reads stay one column.
    photo_states = models.JSONField(default=list)
    # Every render's quality report added up (orders.quality): GET /v1/orders/{id}/report.
    quality = models.JSONField(default=dict)
    # The styles the quality gate left short of their count, and why: [{"style_id", "wanted", "delivered",
    # "reason"}]; empty once each style has its count (a render of the missing ones fills it in).
    shortfall = models.JSONField(default=list)
    # When the person accepted a short delivery as it is: from then on the retention clock runs.
    accepted_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # When photos and adapter are purged: retention_hours after delivery, never later than
    # policy.MAX_RETENTION after creation. Set at creation (the cap) and again on delivery.
    purge_at = models.DateTimeField(null=True, blank=True, db_index=True)
    training_data_purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-created_at"], name="order_tenant_created_idx")]

    @property
    def delivery(self) -> str | None:
        """None until the order's own set is delivered; then "complete", or "short" while a style lacks images."""
        if self.completed_at is None:
            return None
        return "short" if self.shortfall else "complete"

    @property
    def awaiting_decision(self) -> bool:
        """Short, and the person has not accepted it: they may still render the missing images or retrain."""
        return self.delivery == "short" and self.accepted_at is None

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
    """Proof of a purge: what was deleted, when, a digest of every deleted blob key, and what is still left."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    order_id = models.UUIDField(db_index=True)
    reason = models.CharField(max_length=32)  # "user_request", "retention" or "team_policy"
    photos_deleted = models.PositiveIntegerField()
    headshots_deleted = models.PositiveIntegerField()
    blobs_deleted = models.PositiveIntegerField()
    blob_keys_sha256 = models.CharField(max_length=64)
    # Blobs under the order's prefix when the store was last listed (`checked_at`): after the purge, on every
    # DELETE that shows the receipt again, and by the re-purge sweep.
    remaining_blobs = models.PositiveIntegerField()
    checked_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(auto_now_add=True)
    # What each process that held the order's data in memory reported dropping, as it reports it
    # (renderer replicas: adapters and prompt embeddings): [{"purged_by", "entries", "entries_kept", "purged_at"}].
    cache_purges = models.JSONField(default=list)
    # The holders (CacheHolder names) running when the order was deleted: each owes a report.
    cache_holders_expected = models.JSONField(default=list)

    @property
    def cache_purges_pending(self) -> list[str]:
        """The holders running at the deletion that have not reported their purge yet."""
        reported = {p["purged_by"] for p in self.cache_purges}
        return [holder for holder in self.cache_holders_expected if holder not in reported]

    @property
    def complete(self) -> bool:
        """Nothing of the order is left that anyone knows of: no blob, no holder pending, none kept anything."""
        kept = any(p.get("entries_kept", 0) for p in self.cache_purges)
        return self.remaining_blobs == 0 and not self.cache_purges_pending and not kept


class CacheHolder(models.Model):
    """A process that may hold orders' data in memory (a renderer replica), as it last announced itself
    (`CacheHolderPresent`): the ones running when an order is deleted owe its receipt a purge report."""

    name = models.CharField(max_length=200, unique=True)
    interval_s = models.FloatField()
    last_seen_at = models.DateTimeField()
    stopped = models.BooleanField(default=False)


class Photo(models.Model):
    """An uploaded selfie: its raw bytes wait in quarantine until the photo checker gives its verdict."""

    class State(models.TextChoices):
        UPLOADING = "uploading"  # a slot for bytes still to come (a direct upload URL, a multipart part streaming)
        CHECKING = "checking"  # the bytes are in quarantine; the photo checker has not decided yet
        ACCEPTED = "accepted"
        REJECTED = "rejected"

    # Photos that count against the order's cap: all but the rejected.
    KEPT_STATES = (State.UPLOADING, State.CHECKING, State.ACCEPTED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="photos")
    state = models.CharField(max_length=16, choices=State.choices, default=State.CHECKING)
    # The EXIF-free JPEG the checker stored (accepted photos only).
    blob_key = models.CharField(max_length=300, blank=True, default="")
    # Where the raw upload waits for the checker (blob_layout.quarantine_key); gone once the checker is done.
    quarantine_key = models.CharField(max_length=300, blank=True, default="")
    original_filename = models.CharField(max_length=255, blank=True, default="")
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    # The SHA-256 of the bytes as uploaded (multipart and gRPC uploads): the same bytes sent again by a later
    # request are this photo (`photos.mark_received`), so a retried upload makes no second one.
    upload_sha256 = models.CharField(max_length=64, blank=True, default="")
    # 128-d identity embedding: later uploads are compared with it (near-duplicates, a different person).
    embedding = models.JSONField(default=list)
    # Head pose, sharpness and face luminance measured by the check (orders.readiness advises from them).
    traits = models.JSONField(default=dict)
    # The face box in the stored JPEG's pixels: {"left", "top", "right", "bottom"} (thumbnails crop around it).
    face = models.JSONField(default=dict)
    reason_code = models.CharField(max_length=64, blank=True, default="")
    message = models.CharField(max_length=500, blank=True, default="")
    # An upload slot not filled by then is cleared, with whatever bytes it got (the quarantine sweep).
    upload_expires_at = models.DateTimeField(null=True, blank=True)
    # A direct upload's size as announced (its URL takes no more); 0: the per-photo cap.
    upload_max_bytes = models.PositiveIntegerField(default=0)
    # When its bytes were all in quarantine: the check backlog is measured from the oldest still checking.
    received_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    # Its verdict went out in an `order.photos_checked` webhook.
    announced = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["state", "received_at"], name="photo_state_received_idx")]

    def summary(self) -> dict:
        """The photo as its order's status shows it (`Order.photo_states`) and GET .../photos lists it."""
        return {
            "id": str(self.id),
            "filename": self.original_filename,
            "state": self.state,
            "reason_code": self.reason_code or None,
            "message": self.message or None,
            "face": self.face or None,
            "width": self.width or None,
            "height": self.height or None,
        }


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

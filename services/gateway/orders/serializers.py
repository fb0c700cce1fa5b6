"""Input and output shapes of the REST API."""

from rest_framework import serializers

from headshots_common.styles import PACKAGES, STYLE_IDS, STYLES
from orders.models import DeletionReceipt, Headshot, Order, RenderRequest
from webhooks.models import WebhookAttempt, WebhookDelivery


class OrderCreateInput(serializers.Serializer):
    package = serializers.ChoiceField(choices=sorted(PACKAGES))
    styles = serializers.ListField(child=serializers.ChoiceField(choices=STYLE_IDS), min_length=1,
                                   max_length=len(STYLES))
    subject_class = serializers.ChoiceField(choices=["person", "man", "woman"], default="person")
    # Photos and adapter are deleted this long after delivery; never more than 35 days.
    retention_hours = serializers.IntegerField(min_value=1, max_value=35 * 24, default=24)
    webhook_url = serializers.URLField(required=False, allow_blank=True, max_length=500)


class ProgressOutput(serializers.Serializer):
    stage = serializers.CharField()
    percent = serializers.IntegerField()
    eta_s = serializers.FloatField(allow_null=True)


class CountsOutput(serializers.Serializer):
    photos_accepted = serializers.IntegerField()
    headshots = serializers.IntegerField()


class OrderOutput(serializers.Serializer):
    """The order as the API shows it: the schema of `order_representation` (the hot status-read path)."""

    id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=Order.State.choices)
    package = serializers.CharField()
    styles = serializers.ListField(child=serializers.CharField())
    subject_class = serializers.CharField()
    progress = ProgressOutput()
    counts = CountsOutput()
    failure_reason = serializers.CharField(allow_blank=True)
    retention_hours = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    deleted_at = serializers.DateTimeField(allow_null=True)


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def order_representation(order: Order) -> dict:
    """OrderOutput's shape, built directly: status reads are the busiest call of the API."""
    return {
        "id": str(order.id), "state": order.state, "package": order.package, "styles": order.style_ids,
        "subject_class": order.subject_class,
        "progress": {"stage": order.progress_stage, "percent": order.progress_percent, "eta_s": order.eta_seconds},
        "counts": {"photos_accepted": order.photos_accepted, "headshots": order.headshots_ready},
        "failure_reason": order.failure_reason, "retention_hours": order.retention_hours,
        "created_at": _iso(order.created_at), "updated_at": _iso(order.updated_at),
        "submitted_at": _iso(order.submitted_at), "completed_at": _iso(order.completed_at),
        "deleted_at": _iso(order.deleted_at),
    }


class HeadshotOutput(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Headshot
        fields = ["id", "style_id", "seed", "width", "height", "likeness_score", "download_url", "created_at"]

    def get_download_url(self, headshot) -> str:
        return f"/v1/orders/{headshot.order_id}/headshots/{headshot.id}.png"


class PhotoResultOutput(serializers.Serializer):
    filename = serializers.CharField()
    accepted = serializers.BooleanField()
    photo_id = serializers.UUIDField(allow_null=True)
    reason_code = serializers.CharField(allow_null=True)
    message = serializers.CharField(allow_null=True)


class PhotoUploadOutput(serializers.Serializer):
    results = PhotoResultOutput(many=True)
    accepted = serializers.IntegerField()


class PhotoUploadInput(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(), min_length=1)


def photo_result(outcome) -> dict:
    return {
        "filename": outcome.filename,
        "accepted": outcome.photo is not None,
        "photo_id": outcome.photo.id if outcome.photo else None,
        "reason_code": outcome.rejection.code if outcome.rejection else None,
        "message": outcome.rejection.message if outcome.rejection else None,
    }


class RenderCreateInput(serializers.Serializer):
    style = serializers.ChoiceField(choices=STYLE_IDS)
    count = serializers.IntegerField(min_value=1, max_value=40)


class RenderOutput(serializers.ModelSerializer):
    class Meta:
        model = RenderRequest
        fields = ["id", "style_id", "count", "state", "failure_reason", "created_at", "completed_at"]


class DeletionReceiptOutput(serializers.ModelSerializer):
    class Meta:
        model = DeletionReceipt
        fields = ["id", "order_id", "reason", "photos_deleted", "headshots_deleted", "blobs_deleted",
                  "blob_keys_sha256", "remaining_blobs", "deleted_at"]


class WebhookAttemptOutput(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["attempted_at", "status_code", "error", "duration_ms"]


class WebhookDeliveryOutput(serializers.ModelSerializer):
    attempt_log = WebhookAttemptOutput(many=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "event_type", "url", "state", "attempts", "next_attempt_at", "created_at", "delivered_at",
                  "payload", "attempt_log"]


class StyleOutput(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    backdrop = serializers.CharField()
    attire = serializers.CharField()
    lighting = serializers.CharField()


class SignupInput(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(min_length=10, max_length=200, write_only=True)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)


class TokenInput(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(max_length=200, write_only=True)


class TokenOutput(serializers.Serializer):
    token = serializers.CharField()
    tenant_id = serializers.UUIDField()


class ErrorBody(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField()


class ErrorOutput(serializers.Serializer):
    error = ErrorBody()


class StyleListOutput(serializers.Serializer):
    results = StyleOutput(many=True)


class WebhookDeliveryListOutput(serializers.Serializer):
    results = WebhookDeliveryOutput(many=True)


class HeadshotPageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = HeadshotOutput(many=True)

"""Input and output shapes of the orders API."""

from rest_framework import serializers

from headshots_common.styles import PACKAGES, STYLES
from orders.models import Headshot, Order


class OrderCreateInput(serializers.Serializer):
    package = serializers.ChoiceField(choices=sorted(PACKAGES))
    styles = serializers.ListField(child=serializers.ChoiceField(choices=sorted(STYLES)), min_length=1, max_length=len(STYLES))
    subject_class = serializers.ChoiceField(choices=["person", "man", "woman"], default="person")
    # Photos and adapter are deleted this long after delivery; never more than 35 days.
    retention_hours = serializers.IntegerField(min_value=1, max_value=35 * 24, default=24)
    webhook_url = serializers.URLField(required=False, default="")


class OrderOutput(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()
    styles = serializers.ListField(source="style_ids")

    class Meta:
        model = Order
        fields = ["id", "state", "package", "styles", "subject_class", "progress", "counts", "failure_reason",
                  "retention_hours", "created_at", "updated_at", "submitted_at", "completed_at"]

    def get_progress(self, order):
        return {"stage": order.progress_stage, "percent": order.progress_percent, "eta_s": order.eta_seconds}

    def get_counts(self, order):
        return {
            "photos_accepted": getattr(order, "photo_count", None) or order.photos.count(),
            "headshots": getattr(order, "headshot_count", None) or order.headshots.count(),
        }


class HeadshotOutput(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Headshot
        fields = ["id", "style_id", "seed", "width", "height", "likeness_score", "download_url"]

    def get_download_url(self, headshot):
        return f"/v1/orders/{headshot.order_id}/headshots/{headshot.id}.png"


class PhotoResultOutput(serializers.Serializer):
    filename = serializers.CharField()
    accepted = serializers.BooleanField()
    photo_id = serializers.UUIDField(allow_null=True)
    reason_code = serializers.CharField(allow_null=True)
    message = serializers.CharField(allow_null=True)


def photo_result(outcome) -> dict:
    return {
        "filename": outcome.filename,
        "accepted": outcome.photo is not None,
        "photo_id": outcome.photo.id if outcome.photo else None,
        "reason_code": outcome.rejection.code if outcome.rejection else None,
        "message": outcome.rejection.message if outcome.rejection else None,
    }

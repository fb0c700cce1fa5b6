"""Input and output shapes of the order endpoints."""

from rest_framework import serializers

from headshots_common.styles import PACKAGES, STYLE_IDS, STYLES
from orders import policy
from orders.models import DeletionReceipt, Headshot, Order, RenderRequest
from orders.representation import headshot_download_path
from orders.selectors import HEADSHOT_ORDERINGS
from orders.services.photos import PhotoOutcome


class OrderCreateInput(serializers.Serializer):
    package = serializers.ChoiceField(choices=sorted(PACKAGES))
    styles = serializers.ListField(
        child=serializers.ChoiceField(choices=STYLE_IDS), min_length=1, max_length=len(STYLES)
    )
    subject_class = serializers.ChoiceField(choices=list(policy.SUBJECT_CLASSES), default=policy.DEFAULT_SUBJECT_CLASS)
    # Photos and adapter are deleted this long after delivery; never later than the policy's cap.
    retention_hours = serializers.IntegerField(
        min_value=1, max_value=policy.MAX_RETENTION_HOURS, default=policy.DEFAULT_RETENTION_HOURS
    )
    webhook_url = serializers.URLField(
        required=False, allow_blank=True, max_length=Order._meta.get_field("webhook_url").max_length
    )


class ProgressOutput(serializers.Serializer):
    stage = serializers.CharField()
    percent = serializers.IntegerField()
    eta_s = serializers.FloatField(allow_null=True)


class CountsOutput(serializers.Serializer):
    photos_accepted = serializers.IntegerField()
    headshots = serializers.IntegerField()


class AdviceOutput(serializers.Serializer):
    code = serializers.CharField(help_text="add_photos, turn_left, turn_right, tilt, vary_light, soft, looks_different")
    message = serializers.CharField()
    photo = serializers.CharField(allow_null=True, help_text="the photo's file name, when the advice is about one")


class ReadinessOutput(serializers.Serializer):
    score = serializers.IntegerField(min_value=0, max_value=100)
    advice = AdviceOutput(many=True)


class OrderOutput(serializers.Serializer):
    """The schema of `orders.representation.order_representation`, for the OpenAPI document (tests keep them equal)."""

    id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=Order.State.choices)
    package = serializers.CharField()
    styles = serializers.ListField(child=serializers.CharField())
    subject_class = serializers.CharField()
    progress = ProgressOutput()
    counts = CountsOutput()
    failure_reason = serializers.CharField(allow_blank=True)
    readiness = ReadinessOutput(help_text="before training: how ready the photos are, and what to add or retake")
    retention_hours = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    deleted_at = serializers.DateTimeField(allow_null=True)


class HeadshotOutput(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Headshot
        fields = [
            "id",
            "style_id",
            "seed",
            "width",
            "height",
            "likeness_score",
            "quality_score",
            "consistency_score",
            "gated",
            "download_url",
            "created_at",
        ]

    def get_download_url(self, headshot) -> str:
        return headshot_download_path(headshot)


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


def photo_result(outcome: PhotoOutcome) -> dict:
    return {
        "filename": outcome.filename,
        "accepted": outcome.photo is not None,
        "photo_id": outcome.photo.id if outcome.photo else None,
        "reason_code": outcome.rejection.code if outcome.rejection else None,
        "message": outcome.rejection.message if outcome.rejection else None,
    }


class HeadshotListQuery(serializers.Serializer):
    """GET …/headshots query: a bad value is a 400, never silently the first page."""

    style = serializers.ChoiceField(choices=STYLE_IDS, required=False)
    sort = serializers.ChoiceField(
        choices=list(HEADSHOT_ORDERINGS),
        default="created",
        help_text="created: oldest first; likeness or quality: the best first",
    )
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)
    offset = serializers.IntegerField(min_value=0, max_value=1_000_000, default=0)


class OrderListQuery(serializers.Serializer):
    """GET /v1/orders query."""

    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
    offset = serializers.IntegerField(min_value=0, max_value=1_000_000, default=0)


class ScoreStatsOutput(serializers.Serializer):
    mean = serializers.FloatField()
    p10 = serializers.FloatField(help_text="10th percentile")


class QualityReportOutput(serializers.Serializer):
    generated = serializers.IntegerField(help_text="images rendered for the order (over-generated)")
    delivered = serializers.IntegerField()
    rejected = serializers.DictField(
        child=serializers.IntegerField(), help_text="reason (no_face, eyes_hidden, low_likeness, ...) -> images"
    )
    gated = serializers.BooleanField(help_text="false: the base model's quality gate is off (the test model)")
    consistency = serializers.FloatField(help_text="mean pairwise identity similarity of the last render's set")
    likeness = ScoreStatsOutput()
    quality = ScoreStatsOutput()


class RenderCreateInput(serializers.Serializer):
    style = serializers.ChoiceField(choices=STYLE_IDS)
    count = serializers.IntegerField(min_value=1, max_value=policy.MAX_RENDER_COUNT)


class RenderOutput(serializers.ModelSerializer):
    class Meta:
        model = RenderRequest
        fields = ["id", "style_id", "count", "state", "failure_reason", "created_at", "completed_at"]


class CachePurgeOutput(serializers.Serializer):
    purged_by = serializers.CharField(help_text='e.g. "renderer/<replica id>"')
    entries = serializers.IntegerField(help_text="cache entries it dropped (0: it held none)")
    purged_at = serializers.DateTimeField()


class DeletionReceiptOutput(serializers.ModelSerializer):
    cache_purges = CachePurgeOutput(many=True, help_text="every in-memory copy's owner, as it reports the purge")

    class Meta:
        model = DeletionReceipt
        fields = [
            "id",
            "order_id",
            "reason",
            "photos_deleted",
            "headshots_deleted",
            "blobs_deleted",
            "blob_keys_sha256",
            "remaining_blobs",
            "deleted_at",
            "cache_purges",
        ]


class StyleOutput(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    backdrop = serializers.CharField()
    attire = serializers.CharField()
    lighting = serializers.CharField()


class StyleListOutput(serializers.Serializer):
    results = StyleOutput(many=True)


class OrderPageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = OrderOutput(many=True)


class HeadshotPageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = HeadshotOutput(many=True)

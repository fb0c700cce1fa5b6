"""Input and output shapes of the order endpoints."""

from rest_framework import serializers

from gateway.config import CONFIG
from headshots_common.styles import PACKAGES, STYLE_IDS, STYLES
from orders import policy
from orders.models import DeletionReceipt, Headshot, Order, Photo, RenderRequest
from orders.representation import headshot_download_path, photo_status_path, upload_complete_path
from orders.selectors import HEADSHOT_ORDERINGS
from orders.services import photos
from orders.services.direct_uploads import UploadSlot
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


class StyleShortfallOutput(serializers.Serializer):
    style_id = serializers.CharField()
    wanted = serializers.IntegerField()
    delivered = serializers.IntegerField()
    reason = serializers.CharField(
        allow_blank=True, help_text="why most of its images were not delivered (no_face, low_likeness, ...)"
    )
    message = serializers.CharField(help_text="the reason, for a person")


class FaceBoxOutput(serializers.Serializer):
    left = serializers.IntegerField()
    top = serializers.IntegerField()
    right = serializers.IntegerField()
    bottom = serializers.IntegerField()


class PhotoOutput(serializers.Serializer):
    """A photo and its verdict (`Photo.summary`): what GET /v1/orders/{id} lists in `photos` and GET …/photos pages."""

    id = serializers.UUIDField()
    filename = serializers.CharField(allow_blank=True)
    state = serializers.ChoiceField(
        choices=Photo.State.choices, help_text="uploading, checking (waiting for the checker), accepted or rejected"
    )
    reason_code = serializers.CharField(allow_null=True, help_text="why it was rejected (no_face, blurry, ...)")
    message = serializers.CharField(allow_null=True, help_text="what to do about the rejection, for a person")
    face = FaceBoxOutput(allow_null=True, help_text="the face found, in pixels of the stored (upright) photo")
    width = serializers.IntegerField(allow_null=True, help_text="the stored photo's size, once accepted")
    height = serializers.IntegerField(allow_null=True)


class PhotoListOutput(serializers.Serializer):
    count = serializers.IntegerField()
    results = PhotoOutput(many=True)


class OrderOutput(serializers.Serializer):
    """The schema of `orders.representation.order_representation`, for the OpenAPI document (tests keep them equal)."""

    id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=Order.State.choices)
    package = serializers.CharField()
    styles = serializers.ListField(child=serializers.CharField())
    subject_class = serializers.CharField()
    test_mode = serializers.BooleanField(
        help_text="a test order (made with a test key, or in a test-mode partner's team): placeholder headshots"
    )
    progress = ProgressOutput()
    counts = CountsOutput()
    failure_reason = serializers.CharField(allow_blank=True)
    delivery = serializers.ChoiceField(
        choices=["complete", "short"],
        allow_null=True,
        help_text="once delivered: complete, or short of the ordered count (see shortfall; the state stays completed)",
    )
    shortfall = StyleShortfallOutput(many=True, help_text="each style delivered short of its count, and why")
    accepted_at = serializers.DateTimeField(
        allow_null=True, help_text="when a short delivery was accepted: the retention clock runs from then"
    )
    readiness = ReadinessOutput(help_text="before training: how ready the photos are, and what to add or retake")
    photos = PhotoOutput(many=True, help_text="before training: each uploaded photo and its verdict, as it lands")
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
    reason_code = serializers.CharField(
        allow_null=True, help_text='why it is not accepted; "checking" while the photo checker has not decided'
    )
    message = serializers.CharField(allow_null=True)
    state = serializers.ChoiceField(
        choices=[Photo.State.ACCEPTED, Photo.State.REJECTED, Photo.State.CHECKING],
        help_text="checking: not decided within the upload's wait (or with Prefer: respond-async); see status_url",
    )
    status_url = serializers.CharField(allow_null=True, help_text="the photo and its verdict (GET)")


class PhotoUploadOutput(serializers.Serializer):
    results = PhotoResultOutput(many=True)
    accepted = serializers.IntegerField()


class PhotoUploadInput(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(), min_length=1)


def photo_result(outcome: PhotoOutcome) -> dict:
    """One upload's result in the shape clients parse since v1 (`accepted`, `reason_code`), with its state added."""
    rejection, state, photo = photos.verdict(outcome), photos.result_state(outcome), outcome.photo
    return {
        "filename": outcome.filename,
        "accepted": rejection is None,
        "photo_id": photo.id if photo is not None and state != Photo.State.REJECTED else None,
        "reason_code": rejection.code if rejection else None,
        "message": rejection.message if rejection else None,
        "state": state,
        "status_url": photo_status_path(photo) if photo is not None else None,
    }


class UploadFileInput(serializers.Serializer):
    filename = serializers.CharField(max_length=255, allow_blank=True)
    size = serializers.IntegerField(min_value=1, help_text="bytes; the URL accepts at most this many")


class UploadsInput(serializers.Serializer):
    files = serializers.ListField(child=UploadFileInput(), min_length=1, max_length=CONFIG.max_upload_files)


class UploadSlotOutput(serializers.Serializer):
    filename = serializers.CharField()
    photo_id = serializers.UUIDField(allow_null=True)
    method = serializers.CharField(allow_null=True, help_text="PUT the bytes, or POST a form with `fields` first")
    url = serializers.CharField(allow_null=True)
    fields = serializers.DictField(child=serializers.CharField(), help_text="form fields to send before the file")
    expires_at = serializers.DateTimeField(allow_null=True)
    complete_url = serializers.CharField(allow_null=True, help_text="POST here once the bytes are uploaded")
    status_url = serializers.CharField(allow_null=True)
    reason_code = serializers.CharField(allow_null=True, help_text="why no URL was given (too_many_photos)")
    message = serializers.CharField(allow_null=True)


class UploadsOutput(serializers.Serializer):
    uploads = UploadSlotOutput(many=True)


def upload_slot(slot: UploadSlot | PhotoOutcome) -> dict:
    if isinstance(slot, PhotoOutcome):
        assert slot.rejection is not None
        return {
            "filename": slot.filename,
            "photo_id": None,
            "method": None,
            "url": None,
            "fields": {},
            "expires_at": None,
            "complete_url": None,
            "status_url": None,
            "reason_code": slot.rejection.code,
            "message": slot.rejection.message,
        }
    return {
        "filename": slot.photo.original_filename,
        "photo_id": slot.photo.id,
        "method": slot.method,
        "url": slot.url,
        "fields": slot.fields,
        "expires_at": slot.expires_at,
        "complete_url": upload_complete_path(slot.photo),
        "status_url": photo_status_path(slot.photo),
        "reason_code": None,
        "message": None,
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
    top_up_rounds = serializers.IntegerField(help_text="rounds rendered again for images a style was missing")
    shortfall = StyleShortfallOutput(many=True, help_text="each style delivered short of its count, and why")


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
    entries_kept = serializers.IntegerField(default=0, help_text="entries of the order it still held (0: none)")
    purged_at = serializers.DateTimeField()


class DeletionReceiptOutput(serializers.ModelSerializer):
    cache_purges = CachePurgeOutput(many=True, help_text="every in-memory copy's owner, as it reports the purge")
    remaining_blobs = serializers.IntegerField(help_text="blobs found under the order's prefix at checked_at")
    cache_purges_pending = serializers.ListField(
        child=serializers.CharField(), help_text="holders running at the deletion that have not reported yet"
    )
    complete = serializers.BooleanField(help_text="no blob left, every holder reported, none kept anything")

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
            "checked_at",
            "deleted_at",
            "cache_purges",
            "cache_purges_pending",
            "complete",
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

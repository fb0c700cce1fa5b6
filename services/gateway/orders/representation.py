"""The one definition of what an order looks like to its owner.

`order_representation` is GET /v1/orders/{id}'s body. Every other shape of an order derives from it:
the stored status document (`Order.status_json`, rendered on every save), the OpenAPI schema
(`serializers.OrderOutput`, checked against this by the tests), the gRPC `Order` message
(`partner_grpc.messages`) and the webhook summary (`order_summary`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.urls import reverse

from orders import readiness

if TYPE_CHECKING:
    from orders.models import Headshot, Order, Photo

# What webhooks tell about an order besides its id.
SUMMARY_FIELDS = ("state", "progress", "failure_reason")


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def order_representation(order: Order) -> dict[str, Any]:
    """Built directly, not through a serializer: status reads are the busiest call of the API."""
    return {
        "id": str(order.id),
        "state": order.state,
        "package": order.package,
        "styles": order.style_ids,
        "subject_class": order.subject_class,
        # Made with a test key (or in a test-mode partner's team): placeholders, no training, counted apart.
        "test_mode": order.test_mode,
        "progress": {"stage": order.progress_stage, "percent": order.progress_percent, "eta_s": order.eta_seconds},
        "counts": {"photos_accepted": order.photos_accepted, "headshots": order.headshots_ready},
        "failure_reason": order.failure_reason,
        # Once delivered: "complete", or "short" with what each short style lacks and why (orders.models.Order).
        "delivery": order.delivery,
        "shortfall": order.shortfall,
        "accepted_at": _iso(order.accepted_at),
        # Before training: how ready the photos are and what to add or retake (orders.readiness).
        "readiness": order.readiness or readiness.assess([]),
        # Before training: each uploaded photo and its verdict, as the photo checker gives it (`Photo.summary`).
        "photos": order.photo_states,
        "retention_hours": order.retention_hours,
        "created_at": _iso(order.created_at),
        "updated_at": _iso(order.updated_at),
        "submitted_at": _iso(order.submitted_at),
        "completed_at": _iso(order.completed_at),
        "deleted_at": _iso(order.deleted_at),
    }


def order_summary(order: Order) -> dict[str, Any]:
    """What webhooks say about an order: a part of its representation."""
    representation = order_representation(order)
    summary = {field: representation[field] for field in SUMMARY_FIELDS}
    summary["failure_reason"] = summary["failure_reason"] or None
    return summary


def headshot_download_path(headshot: Headshot) -> str:
    """The REST path that serves a headshot's PNG."""
    return reverse("headshot-download", kwargs={"order_id": headshot.order_id, "headshot_id": headshot.id})


def photo_status_path(photo: Photo) -> str:
    """The REST path of a photo and its verdict (an upload's status URL)."""
    return reverse("photo-detail", kwargs={"order_id": photo.order_id, "photo_id": photo.id})


def upload_complete_path(photo: Photo) -> str:
    """Where a direct upload is completed (its check queued)."""
    return reverse("upload-complete", kwargs={"order_id": photo.order_id, "photo_id": photo.id})

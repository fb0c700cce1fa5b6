"""The partner API's messages, built from what REST shows (`orders.representation` for an order).

One source per shape: an order's message derives from its representation (the stored status document),
so REST and gRPC never disagree about an order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf import duration_pb2, json_format, timestamp_pb2

from accounts.models import ApiKey
from headshots.partner.v1 import partner_api_pb2 as pb
from headshots_common.styles import Style
from orders.models import DeletionReceipt, Headshot, Order, Photo, RenderRequest
from partner_grpc.names import api_key_name, headshot_name, order_name, photo_name
from webhooks.models import WebhookDelivery

# Key kinds by their REST value, as the proto enum names them.
_KEY_KIND = {value: f"KIND_{name}" for value, name in zip(ApiKey.Kind.values, ApiKey.Kind.names)}
# Order states by their REST value, as the proto enum names them (constructors take enum names too).
_STATE = {value: f"STATE_{name}" for value, name in zip(Order.State.values, Order.State.names)}
# Photo states by their REST value.
_PHOTO_STATE = {value: f"STATE_{name}" for value, name in zip(Photo.State.values, Photo.State.names)}
# An order's delivery by its REST value (None: not delivered yet).
_DELIVERY = {None: "DELIVERY_UNSPECIFIED", "complete": "DELIVERY_COMPLETE", "short": "DELIVERY_SHORT"}


def _timestamp(value: str | datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    timestamp = timestamp_pb2.Timestamp()
    if isinstance(value, str):
        timestamp.FromJsonString(value)
    else:
        timestamp.FromDatetime(value)
    return timestamp


def _duration(seconds: float | None) -> duration_pb2.Duration | None:
    if seconds is None:
        return None
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(round(seconds * 1e9))
    return duration


def progress_message(progress: dict[str, Any]) -> pb.OrderProgress:
    return pb.OrderProgress(stage=progress["stage"], percent=progress["percent"], eta=_duration(progress["eta_s"]))


def order_message(order: dict[str, Any]) -> pb.Order:
    """`order` is an order's representation (`order_representation`, or its stored status document)."""
    return pb.Order(
        name=order_name(order["id"]),
        uid=order["id"],
        state=_STATE[order["state"]],
        package=order["package"],
        style_ids=order["styles"],
        subject_class=order["subject_class"],
        retention=_duration(order["retention_hours"] * 3600),
        progress=progress_message(order["progress"]),
        photos_accepted=order["counts"]["photos_accepted"],
        headshots_ready=order["counts"]["headshots"],
        failure_reason=order["failure_reason"],
        create_time=_timestamp(order["created_at"]),
        update_time=_timestamp(order["updated_at"]),
        submit_time=_timestamp(order["submitted_at"]),
        complete_time=_timestamp(order["completed_at"]),
        delete_time=_timestamp(order["deleted_at"]),
        readiness=readiness_message(order.get("readiness")),
        # Status documents saved before deliveries were judged have none of these.
        delivery=_DELIVERY[order.get("delivery")],
        shortfall=shortfall_messages(order.get("shortfall", [])),
        accept_time=_timestamp(order.get("accepted_at")),
        photos=[photo_message(order["id"], photo) for photo in order.get("photos", [])],
        test_mode=order.get("test_mode", False),
    )


def photo_message(order_id: str, photo: dict[str, Any]) -> pb.Photo:
    """`photo` is a photo's summary (`Photo.summary`), as its order's status lists it."""
    return pb.Photo(
        name=photo_name(order_id, photo["id"]),
        uid=photo["id"],
        filename=photo["filename"],
        state=_PHOTO_STATE[photo["state"]],
        reason_code=photo["reason_code"] or "",
        message=photo["message"] or "",
        face=pb.FaceBox(**photo["face"]) if photo["face"] else None,
        width=photo["width"] or 0,
        height=photo["height"] or 0,
    )


def shortfall_messages(shortfall: list[dict[str, Any]]) -> list[pb.StyleShortfall]:
    return [pb.StyleShortfall(**entry) for entry in shortfall]


def readiness_message(readiness: dict[str, Any] | None) -> pb.OrderReadiness:
    """Status documents saved before readiness existed have none: an empty message."""
    if not readiness:
        return pb.OrderReadiness()
    return pb.OrderReadiness(
        score=readiness["score"],
        advice=[
            pb.PhotoAdvice(code=a["code"], message=a["message"], photo_filename=a["photo"] or "")
            for a in readiness["advice"]
        ],
    )


def headshot_message(headshot: Headshot) -> pb.Headshot:
    return pb.Headshot(
        name=headshot_name(headshot.order_id, headshot.id),
        uid=str(headshot.id),
        style_id=headshot.style_id,
        seed=headshot.seed,
        width=headshot.width,
        height=headshot.height,
        likeness_score=headshot.likeness_score,
        create_time=_timestamp(headshot.created_at),
        quality_score=headshot.quality_score,
        consistency_score=headshot.consistency_score,
        gated=headshot.gated,
    )


def report_message(name: str, report: dict[str, Any]) -> pb.OrderReport:
    return pb.OrderReport(
        name=name,
        generated=report["generated"],
        delivered=report["delivered"],
        rejected=report["rejected"],
        gated=report["gated"],
        consistency=report["consistency"],
        likeness=pb.ScoreStats(**report["likeness"]),
        quality=pb.ScoreStats(**report["quality"]),
        shortfall=shortfall_messages(report["shortfall"]),
        top_up_rounds=report["top_up_rounds"],
    )


def receipt_message(receipt: DeletionReceipt) -> pb.DeletionReceipt:
    return pb.DeletionReceipt(
        uid=str(receipt.id),
        order=order_name(receipt.order_id),
        reason=receipt.reason,
        photos_deleted=receipt.photos_deleted,
        headshots_deleted=receipt.headshots_deleted,
        blobs_deleted=receipt.blobs_deleted,
        blob_keys_sha256=receipt.blob_keys_sha256,
        remaining_blobs=receipt.remaining_blobs,
        delete_time=_timestamp(receipt.deleted_at),
        cache_purges=[
            pb.CachePurge(
                purged_by=p["purged_by"],
                entries=p["entries"],
                entries_kept=p.get("entries_kept", 0),
                purge_time=_timestamp(p["purged_at"]),
            )
            for p in receipt.cache_purges
        ],
        cache_purges_pending=receipt.cache_purges_pending,
        complete=receipt.complete,
        check_time=_timestamp(receipt.checked_at),
    )


def render_message(render: RenderRequest) -> pb.Render:
    return pb.Render(
        uid=str(render.id),
        style_id=render.style_id,
        count=render.count,
        state=render.state,
        failure_reason=render.failure_reason,
        create_time=_timestamp(render.created_at),
        complete_time=_timestamp(render.completed_at),
    )


def style_message(style: Style) -> pb.Style:
    return pb.Style(
        id=style.id, display_name=style.name, backdrop=style.backdrop, attire=style.attire, lighting=style.lighting
    )


def delivery_message(delivery: WebhookDelivery) -> pb.WebhookDelivery:
    message = pb.WebhookDelivery(
        uid=delivery.id,
        event_type=delivery.event_type,
        url=delivery.url,
        state=delivery.state,
        attempts=delivery.attempts,
        next_attempt_time=_timestamp(delivery.next_attempt_at),
        create_time=_timestamp(delivery.created_at),
        deliver_time=_timestamp(delivery.delivered_at),
        attempt_log=[
            pb.WebhookAttempt(
                attempt_time=_timestamp(a.attempted_at),
                status_code=a.status_code or 0,
                error=a.error,
                duration=_duration(a.duration_ms / 1000),
            )
            for a in delivery.attempt_log.all()
        ],
    )
    json_format.ParseDict(delivery.payload, message.payload)
    return message


def api_key_message(key: ApiKey, current: bool) -> pb.ApiKey:
    """A key as its owner sees it (REST's token info): never the secret. `current`: the call was made with it."""
    return pb.ApiKey(
        name=api_key_name(key.prefix),
        kind=_KEY_KIND[key.kind],
        create_time=_timestamp(key.created_at),
        expire_time=_timestamp(key.expires_at),
        revoke_time=_timestamp(key.revoked_at),
        active=key.active,
        current=current,
    )

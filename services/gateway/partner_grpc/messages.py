"""The partner API's messages, built from what REST shows (`orders.representation` for an order).

One source per shape: an order's message derives from its representation (the stored status document),
so REST and gRPC never disagree about an order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf import duration_pb2, json_format, timestamp_pb2

from headshots.partner.v1 import partner_api_pb2 as pb
from headshots_common.styles import Style
from orders.models import DeletionReceipt, Headshot, Order, RenderRequest
from partner_grpc.names import headshot_name, order_name
from webhooks.models import WebhookDelivery

# Order states by their REST value, as the proto enum names them (constructors take enum names too).
_STATE = {value: f"STATE_{name}" for value, name in zip(Order.State.values, Order.State.names)}


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
    )


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
            pb.CachePurge(purged_by=p["purged_by"], entries=p["entries"], purge_time=_timestamp(p["purged_at"]))
            for p in receipt.cache_purges
        ],
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

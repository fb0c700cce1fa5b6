"""What the API returns, as typed, immutable values: the same classes from REST and from gRPC, each built by
`from_json` (REST's body) or `from_proto` (the partner API's message). Ids are the API's UUIDs (REST's `id`,
gRPC's `uid`); states are REST's lower-case words ("awaiting_photos", ..., "completed")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from google.protobuf.json_format import MessageToDict

from headshots_client._proto import partner_api_pb2 as pb

FINAL_STATES = frozenset({"completed", "failed", "deleted"})


def _state(enum_type, value: int) -> str:
    return enum_type.Name(value).removeprefix("STATE_").lower()


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _proto_time(message, name: str) -> datetime | None:
    return getattr(message, name).ToDatetime().astimezone() if message.HasField(name) else None


@dataclass(frozen=True)
class Progress:
    stage: str
    percent: int
    eta_s: float | None


@dataclass(frozen=True)
class Photo:
    id: str
    filename: str
    state: str  # "uploading", "checking", "accepted", "rejected"
    reason_code: str | None = None
    message: str | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Photo:
        return cls(body["id"], body["filename"], body["state"], body.get("reason_code"), body.get("message"))

    @classmethod
    def from_proto(cls, message: pb.Photo) -> Photo:
        return cls(
            message.uid,
            message.filename,
            _state(pb.Photo.State, message.state),
            message.reason_code or None,
            message.message or None,
        )


@dataclass(frozen=True)
class Order:
    id: str
    state: str
    package: str
    styles: tuple[str, ...]
    progress: Progress
    photos_accepted: int
    headshots_ready: int
    failure_reason: str
    delivery: str | None  # None until delivered; "complete" or "short"
    created_at: datetime | None
    completed_at: datetime | None
    photos: tuple[Photo, ...] = ()
    shortfall: tuple[dict[str, Any], ...] = ()
    test_mode: bool = False  # a test order: placeholder headshots, no training (a test key's, or a test team's)

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Order:
        progress = body["progress"]
        return cls(
            id=body["id"],
            state=body["state"],
            package=body["package"],
            styles=tuple(body["styles"]),
            progress=Progress(progress["stage"], progress["percent"], progress["eta_s"]),
            photos_accepted=body["counts"]["photos_accepted"],
            headshots_ready=body["counts"]["headshots"],
            failure_reason=body["failure_reason"],
            delivery=body["delivery"],
            created_at=_time(body["created_at"]),
            completed_at=_time(body["completed_at"]),
            photos=tuple(Photo.from_json(p) for p in body.get("photos", [])),
            shortfall=tuple(body.get("shortfall", [])),
            test_mode=body.get("test_mode", False),
        )

    @classmethod
    def from_proto(cls, message: pb.Order) -> Order:
        eta = message.progress.eta.ToTimedelta().total_seconds() if message.progress.HasField("eta") else None
        delivery = pb.Order.Delivery.Name(message.delivery).removeprefix("DELIVERY_").lower()
        shortfall = [MessageToDict(s, preserving_proto_field_name=True) for s in message.shortfall]
        return cls(
            id=message.uid,
            state=_state(pb.Order.State, message.state),
            package=message.package,
            styles=tuple(message.style_ids),
            progress=Progress(message.progress.stage, message.progress.percent, eta),
            photos_accepted=message.photos_accepted,
            headshots_ready=message.headshots_ready,
            failure_reason=message.failure_reason,
            delivery=None if delivery == "unspecified" else delivery,
            created_at=_proto_time(message, "create_time"),
            completed_at=_proto_time(message, "complete_time"),
            photos=tuple(Photo.from_proto(p) for p in message.photos),
            shortfall=tuple(shortfall),
            test_mode=message.test_mode,
        )


@dataclass(frozen=True)
class PhotoResult:
    filename: str
    accepted: bool
    state: str  # "accepted", "rejected", or "checking" when no verdict came within the wait
    photo_id: str | None = None
    reason_code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class UploadResult:
    results: tuple[PhotoResult, ...]

    @property
    def accepted(self) -> int:
        return sum(result.accepted for result in self.results)


@dataclass(frozen=True)
class Headshot:
    id: str
    order_id: str
    style_id: str
    seed: int
    width: int
    height: int
    likeness_score: float
    quality_score: float
    consistency_score: float

    @classmethod
    def from_json(cls, order_id: str, body: dict[str, Any]) -> Headshot:
        return cls(
            body["id"],
            order_id,
            body["style_id"],
            body["seed"],
            body["width"],
            body["height"],
            body["likeness_score"],
            body["quality_score"],
            body["consistency_score"],
        )

    @classmethod
    def from_proto(cls, order_id: str, message: pb.Headshot) -> Headshot:
        return cls(
            message.uid,
            order_id,
            message.style_id,
            message.seed,
            message.width,
            message.height,
            message.likeness_score,
            message.quality_score,
            message.consistency_score,
        )


@dataclass(frozen=True)
class Render:
    id: str
    style_id: str
    count: int
    state: str  # "pending", "completed", "failed"

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Render:
        return cls(body["id"], body["style_id"], body["count"], body["state"])

    @classmethod
    def from_proto(cls, message: pb.Render) -> Render:
        return cls(message.uid, message.style_id, message.count, message.state)


@dataclass(frozen=True)
class DeletionReceipt:
    """What a deletion removed: `complete` once no blob is left and every in-memory holder confirmed."""

    id: str
    order_id: str
    photos_deleted: int
    headshots_deleted: int
    blobs_deleted: int
    blob_keys_sha256: str
    remaining_blobs: int
    complete: bool
    cache_purges_pending: tuple[str, ...] = field(default=())

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> DeletionReceipt:
        return cls(
            body["id"],
            body["order_id"],
            body["photos_deleted"],
            body["headshots_deleted"],
            body["blobs_deleted"],
            body["blob_keys_sha256"],
            body["remaining_blobs"],
            body["complete"],
            tuple(body["cache_purges_pending"]),
        )

    @classmethod
    def from_proto(cls, message: pb.DeletionReceipt) -> DeletionReceipt:
        return cls(
            message.uid,
            message.order.removeprefix("orders/"),
            message.photos_deleted,
            message.headshots_deleted,
            message.blobs_deleted,
            message.blob_keys_sha256,
            message.remaining_blobs,
            message.complete,
            tuple(message.cache_purges_pending),
        )


@dataclass(frozen=True)
class Report:
    """An order's quality report: generated, delivered, rejected by reason, and the delivered scores."""

    generated: int
    delivered: int
    rejected: dict[str, int]
    gated: bool
    consistency: float
    shortfall: tuple[dict[str, Any], ...]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Report:
        return cls(
            body["generated"],
            body["delivered"],
            dict(body["rejected"]),
            body["gated"],
            body["consistency"],
            tuple(body["shortfall"]),
        )

    @classmethod
    def from_proto(cls, message: pb.OrderReport) -> Report:
        shortfall = [MessageToDict(s, preserving_proto_field_name=True) for s in message.shortfall]
        return cls(
            message.generated,
            message.delivered,
            dict(message.rejected),
            message.gated,
            message.consistency,
            tuple(shortfall),
        )


@dataclass(frozen=True)
class Style:
    id: str
    name: str
    backdrop: str
    attire: str
    lighting: str


# -- teams -------------------------------------------------------------------------------------------------------------
def _last(name: str) -> str:
    """The id at the end of a resource name (`teams/{team}/members/{member}`: the member's)."""
    return name.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class TeamLook:
    """The exact render settings every member's team order records."""

    style_id: str
    style_name: str
    backdrop_hex: str
    prompt: str  # "{subject}" stands for the person
    negative_prompt: str
    sampler: str
    num_inference_steps: int
    guidance_scale: float
    seed_base: int

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> TeamLook:
        return cls(**{name: body[name] for name in cls.__dataclass_fields__})

    @classmethod
    def from_proto(cls, message: pb.TeamLook) -> TeamLook:
        return cls(
            message.style_id,
            message.style_display_name,
            message.backdrop_hex,
            message.prompt,
            message.negative_prompt,
            message.sampler,
            message.num_inference_steps,
            round(message.guidance_scale, 4),  # a float32 on the wire
            message.seed_base,
        )


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    seats: int
    retention_hours: int
    look: TeamLook | None  # None until the admin sets it
    created_at: datetime | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Team:
        look = TeamLook.from_json(body["look"]) if body.get("look") else None
        return cls(body["id"], body["name"], body["seats"], body["retention_hours"], look, _time(body["created_at"]))

    @classmethod
    def from_proto(cls, message: pb.Team) -> Team:
        return cls(
            _last(message.name),
            message.display_name,
            message.seats,
            message.retention.ToSeconds() // 3600,
            TeamLook.from_proto(message.look) if message.HasField("look") else None,
            _proto_time(message, "create_time"),
        )


@dataclass(frozen=True)
class TeamInvitation:
    """An e-mail invitation (`kind` "email") or a shared link ("link"). A link's `token` and `join_url` are shown only
    in the answer that created it (None otherwise)."""

    id: str
    team_id: str
    kind: str
    email: str
    email_domain: str
    max_uses: int
    uses: int
    expires_at: datetime | None
    revoked_at: datetime | None = None
    token: str | None = None
    join_url: str | None = None

    @classmethod
    def from_json(cls, team_id: str, body: dict[str, Any]) -> TeamInvitation:
        return cls(
            body["id"],
            team_id,
            body["kind"],
            body["email"] or "",
            body["email_domain"] or "",
            body["max_uses"],
            body["uses"],
            _time(body["expires_at"]),
            _time(body["revoked_at"]),
            body.get("token"),
            body.get("join_url"),
        )

    @classmethod
    def from_proto(cls, message: pb.TeamInvitation) -> TeamInvitation:
        team_id = message.name.split("/")[1]
        return cls(
            _last(message.name),
            team_id,
            pb.TeamInvitation.Kind.Name(message.kind).removeprefix("KIND_").lower(),
            message.email,
            message.email_domain,
            message.max_uses,
            message.uses,
            _proto_time(message, "expire_time"),
            _proto_time(message, "revoke_time"),
        )

    @classmethod
    def from_link_proto(cls, message: pb.TeamInviteLink) -> TeamInvitation:
        return cls(
            _last(message.name),
            message.name.split("/")[1],
            "link",
            "",
            message.email_domain,
            message.max_uses,
            0,
            _proto_time(message, "expire_time"),
            None,
            message.token,
            message.join_url,
        )


@dataclass(frozen=True)
class TeamPick:
    """A headshot a member shared with the team's admin."""

    id: str
    state: str  # "shared", "approved", "hidden"
    style: str | None = None  # the look's name (None in REST's answer to set_team_pick_state)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> TeamPick:
        return cls(body["id"], body["state"], body.get("style"))

    @classmethod
    def from_proto(cls, message: pb.TeamPick) -> TeamPick:
        return cls(_last(message.name), message.state, message.style or None)


@dataclass(frozen=True)
class TeamMember:
    """A member as the admin sees them. `id` is None for an e-mail invitation not taken up yet."""

    id: str | None
    name: str
    email: str
    state: str  # "invited", "joined", "uploading", "training", "ready", "picked", "failed"
    picks: tuple[TeamPick, ...] = ()

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> TeamMember:
        picks = tuple(TeamPick.from_json(p) for p in body["shared_picks"])
        return cls(body["id"], body["name"], body["email"] or "", body["state"], picks)

    @classmethod
    def from_proto(cls, message: pb.TeamMember) -> TeamMember:
        picks = tuple(TeamPick.from_proto(p) for p in message.picks)
        return cls(_last(message.name) or None, message.display_name, message.email, message.state, picks)


@dataclass(frozen=True)
class TeamUsage:
    """For billing: seats, seats taken, headshots delivered to the team's members."""

    seats: int
    seats_used: int
    headshots_delivered: int

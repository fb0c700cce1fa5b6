"""The partner API over gRPC (`headshots.partner.v1.PartnerService`), with the stubs this package carries.

Errors arrive as a status with google.rpc details: the ErrorInfo reason is the API's code, RetryInfo the wait the
server asks for, BadRequest the fields at fault (as REST's `details["fields"]`). An UNAVAILABLE without ErrorInfo
came from the transport, not the API: ConnectionFailed.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2

from headshots_client import errors
from headshots_client._proto import partner_api_pb2 as pb, partner_api_pb2_grpc as pb_grpc
from headshots_client.base import (
    HeadshotsClient,
    PhotoInput,
    deadline_of,
    last_id,
    order_id,
    read_photos,
    target_path,
    team_id,
)
from headshots_client.models import (
    DeletionReceipt,
    Headshot,
    Order,
    PhotoResult,
    Render,
    Report,
    Style,
    Team,
    TeamInvitation,
    TeamMember,
    TeamPick,
    TeamUsage,
    UploadResult,
)
from headshots_client.retry import RetryPolicy, with_retries
from headshots_client.transport import KEY_ENV, LOCAL_GRPC_TARGET, TARGET_ENV, Transport, open_channel, tls_failure

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# A watch is one server stream; the server ends it before this deadline and the client opens the next.
WATCH_STREAM_S = 600.0
_TRANSPORT_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def api_error(exc: grpc.RpcError, target: str) -> errors.HeadshotsError:
    """A failed call as its exception, from the status and its google.rpc details."""
    code: grpc.StatusCode = exc.code()
    message: str = exc.details() or ""
    reason, details, retry_after = "", {}, None
    trailers: Any = exc.trailing_metadata() or ()
    for key, value in trailers:
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value)
        message = status.message or message
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                retry_after = retry.retry_delay.ToTimedelta().total_seconds()
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                details["fields"] = {v.field: [v.description] for v in bad.field_violations}
    if not reason and code in _TRANSPORT_CODES:
        hint = " (a TLS handshake failed: a private CA needs ca_file)" if tls_failure(message) else ""
        return errors.ConnectionFailed(f"cannot reach the partner API at {target}: {message}{hint}")
    if reason and message.startswith(f"{reason}: "):
        message = message[len(reason) + 2 :]
    kind = errors.BY_GRPC_STATUS.get(code.name, errors.InternalError)
    return kind(reason or code.name.lower(), message, details=details, grpc_status=code.name, retry_after_s=retry_after)


class GrpcClient(HeadshotsClient):
    """`GrpcClient(api_key, target)`: the key from HEADSHOTS_API_KEY and `host:port` from HEADSHOTS_GRPC_TARGET when
    not given (else the local stack). TLS for every host that is not this machine (`Transport` says otherwise)."""

    def __init__(
        self,
        api_key: str | None = None,
        target: str | None = None,
        *,
        transport: Transport = Transport(),
        timeout_s: float = 60.0,
        retry: RetryPolicy = RetryPolicy(),
    ):
        key = api_key or os.environ.get(KEY_ENV)
        if not key:
            raise errors.TransportError(f"no API key: pass api_key or set {KEY_ENV}")
        self.target = target or os.environ.get(TARGET_ENV) or LOCAL_GRPC_TARGET
        options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
        self.channel = open_channel(self.target, transport, options)
        self.stub = pb_grpc.PartnerServiceStub(self.channel)
        self.metadata = (("authorization", f"Bearer {key}"),)
        self.timeout_s, self.retry = timeout_s, retry

    # -- the wire --------------------------------------------------------------------------------------------------
    def call(self, method: str, request: Any, *, idempotent: bool = True, timeout_s: float | None = None) -> Any:
        """The raw RPC `method` (a PartnerService method's name) with this client's key, retries and errors; a
        client-streaming method takes a list of its messages (sent again whole on a retry)."""
        rpc = getattr(self.stub, method)

        def attempt():
            sent = iter(request) if isinstance(request, list) else request
            try:
                return rpc(sent, metadata=self.metadata, timeout=timeout_s or self.timeout_s)
            except grpc.RpcError as exc:
                raise api_error(exc, self.target) from None

        return with_retries(attempt, self.retry, idempotent=idempotent)

    def stream(self, method: str, request: Any, timeout_s: float) -> Iterator[Any]:
        """The raw server-streaming RPC `method`'s messages (not retried: a broken stream is the caller's to
        open again)."""
        try:
            yield from getattr(self.stub, method)(request, metadata=self.metadata, timeout=timeout_s)
        except grpc.RpcError as exc:
            raise api_error(exc, self.target) from None

    def _pages(self, fetch: Callable[[str], Any], items: str) -> Iterator[Any]:
        token = ""
        while True:
            page = fetch(token)
            yield from getattr(page, items)
            token = page.next_page_token
            if not token:
                return

    # -- orders ----------------------------------------------------------------------------------------------------
    def create_order(
        self,
        package: str,
        styles: list[str],
        *,
        subject_class: str | None = None,
        retention_hours: int | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Order:
        order = pb.Order(package=package, style_ids=list(styles), subject_class=subject_class or "")
        if retention_hours is not None:
            order.retention.CopyFrom(duration_pb2.Duration(seconds=retention_hours * 3600))
        request = pb.CreateOrderRequest(
            request_id=idempotency_key or str(uuid.uuid4()), order=order, webhook_url=webhook_url or ""
        )
        return Order.from_proto(self.call("CreateOrder", request))

    def get_order(self, order: str) -> Order:
        return Order.from_proto(self.call("GetOrder", pb.GetOrderRequest(name=f"orders/{order_id(order)}")))

    def list_orders(self, *, page_size: int = 50) -> Iterator[Order]:
        def fetch(token: str):
            return self.call("ListOrders", pb.ListOrdersRequest(page_size=page_size, page_token=token))

        for message in self._pages(fetch, "orders"):
            yield Order.from_proto(message)

    def upload_photos(self, order: str, photos: Iterable[PhotoInput], *, wait_s: float = 60.0) -> UploadResult:
        """One client stream of the photos; the server answers with each verdict (or `checking` past its wait,
        and then this polls the order for the rest until `wait_s`)."""
        name, files = f"orders/{order_id(order)}", read_photos(photos)

        uploads = [pb.UploadPhotosRequest(parent=name, filename=filename, content=data) for filename, data in files]
        # A stream is not idempotent: retried only when the API answered that it took nothing.
        timeout = max(self.timeout_s, wait_s + 10 * len(files))
        response = self.call("UploadPhotos", uploads, idempotent=False, timeout_s=timeout)
        results = [
            PhotoResult(
                r.filename,
                r.accepted,
                pb.Photo.State.Name(r.state).removeprefix("STATE_").lower(),
                r.photo_id or None,
                r.reason_code or None,
                r.message or None,
            )
            for r in response.results
        ]
        deadline = time.monotonic() + wait_s
        while any(r.state == "checking" for r in results) and time.monotonic() < deadline:
            time.sleep(0.25)
            verdicts = {p.id: p for p in self.get_order(order).photos if p.state not in ("uploading", "checking")}
            results = [
                PhotoResult(r.filename, v.state == "accepted", v.state, v.id, v.reason_code, v.message)
                if r.state == "checking" and (v := verdicts.get(r.photo_id or "")) is not None
                else r
                for r in results
            ]
        return UploadResult(tuple(results))

    def submit_order(self, order: str) -> Order:
        self.call("SubmitOrder", pb.SubmitOrderRequest(name=f"orders/{order_id(order)}"))
        return self.get_order(order)

    def watch_order(self, order: str, *, timeout_s: float | None = None) -> Iterator[Order]:
        """The server's stream of changes; when a stream ends before the order is final, the next one opens."""
        name, deadline, last = f"orders/{order_id(order)}", deadline_of(timeout_s), None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"order {order_id(order)} is not final after {timeout_s}s")
            try:
                for update in self.stream(
                    "WatchOrder", pb.WatchOrderRequest(name=name), min(WATCH_STREAM_S, remaining)
                ):
                    current = Order.from_proto(update.order)
                    if current != last:
                        last = current
                        yield current
                    if current.final:
                        return
            except errors.ConnectionFailed:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"order {order_id(order)} is not final after {timeout_s}s") from None
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))  # the stream broke: open another

    def accept_order(self, order: str) -> Order:
        return Order.from_proto(self.call("AcceptOrder", pb.AcceptOrderRequest(name=f"orders/{order_id(order)}")))

    def delete_order(self, order: str) -> DeletionReceipt:
        receipt = self.call("DeleteOrder", pb.DeleteOrderRequest(name=f"orders/{order_id(order)}"))
        return DeletionReceipt.from_proto(receipt)

    def get_report(self, order: str) -> Report:
        return Report.from_proto(
            self.call("GetOrderReport", pb.GetOrderReportRequest(name=f"orders/{order_id(order)}"))
        )

    # -- headshots -------------------------------------------------------------------------------------------------
    def list_headshots(self, order: str, *, style_id: str | None = None, page_size: int = 50) -> Iterator[Headshot]:
        oid = order_id(order)

        def fetch(token: str):
            request = pb.ListHeadshotsRequest(
                parent=f"orders/{oid}", style_id=style_id or "", page_size=page_size, page_token=token
            )
            return self.call("ListHeadshots", request)

        for message in self._pages(fetch, "headshots"):
            yield Headshot.from_proto(oid, message)

    def download_headshot(self, headshot: Headshot, to: str | Path) -> Path:
        """Into `<to>/<id>.png` (or `to` itself when it ends .png) through `<file>.part`: a download that broke off
        resumes from the part's end (`read_offset`), also within the retries of this call, and the file is kept only
        when its SHA-256 matches the API's; otherwise ChecksumMismatch, and nothing is kept."""
        name = f"orders/{headshot.order_id}/headshots/{headshot.id}"
        return self._download("DownloadHeadshot", pb.DownloadHeadshotRequest, name, target_path(headshot.id, to))

    def _download(self, method: str, request_type, name: str, path: Path) -> Path:
        """The stream `method` of the file `name` into `path` through `<path>.part`, resumed with `read_offset`,
        kept only when its SHA-256 matches the one the stream names."""
        part = path.with_name(path.name + ".part")

        def attempt() -> str:
            offset = part.stat().st_size if part.exists() else 0
            request = request_type(name=name, read_offset=offset)
            sha256 = ""
            try:
                with open(part, "ab") as out:
                    for chunk in self.stream(method, request, self.timeout_s):
                        sha256 = chunk.sha256 or sha256
                        out.write(chunk.data)
            except errors.InvalidArgument as error:
                if error.code != "invalid_read_offset":
                    raise
                part.unlink()  # longer than the file: not a part of it; the next attempt starts afresh
                raise errors.ConnectionFailed(f"{path.name}: the part was longer than the file") from None
            return sha256

        try:
            expected = with_retries(attempt, self.retry, idempotent=True)
        except Exception:
            if part.exists() and not part.stat().st_size:  # refused before a byte came: nothing to resume
                part.unlink()
            raise
        actual = hashlib.sha256(part.read_bytes()).hexdigest()
        if expected and actual != expected:
            part.unlink(missing_ok=True)
            raise errors.ChecksumMismatch(f"{path.name}: SHA-256 {actual} is not the API's {expected}; not kept")
        part.replace(path)
        return path

    def create_render(self, order: str, style_id: str, count: int, *, idempotency_key: str | None = None) -> Render:
        request = pb.CreateRenderRequest(
            parent=f"orders/{order_id(order)}",
            request_id=idempotency_key or str(uuid.uuid4()),
            style_id=style_id,
            count=count,
        )
        return Render.from_proto(self.call("CreateRender", request))

    def list_styles(self) -> list[Style]:
        response = self.call("ListStyles", pb.ListStylesRequest())
        return [Style(s.id, s.display_name, s.backdrop, s.attire, s.lighting) for s in response.styles]

    # -- teams -----------------------------------------------------------------------------------------------------
    def create_team(self, name: str, seats: int, *, retention_hours: int | None = None) -> Team:
        team = pb.Team(display_name=name, seats=seats)
        if retention_hours is not None:
            team.retention.CopyFrom(duration_pb2.Duration(seconds=retention_hours * 3600))
        # Not idempotent (no request_id on CreateTeam): retried only when the API answered that it did nothing.
        return Team.from_proto(self.call("CreateTeam", pb.CreateTeamRequest(team=team), idempotent=False))

    def get_team(self, team: str | Team) -> Team:
        return Team.from_proto(self.call("GetTeam", pb.GetTeamRequest(name=f"teams/{team_id(team)}")))

    def list_teams(self, *, page_size: int = 50) -> Iterator[Team]:
        def fetch(token: str):
            return self.call("ListTeams", pb.ListTeamsRequest(page_size=page_size, page_token=token))

        for message in self._pages(fetch, "teams"):
            yield Team.from_proto(message)

    def delete_team(self, team: str | Team) -> list[DeletionReceipt]:
        response = self.call("DeleteTeam", pb.DeleteTeamRequest(name=f"teams/{team_id(team)}"))
        return [DeletionReceipt.from_proto(r) for r in response.receipts]

    def set_team_look(
        self,
        team: str | Team,
        style_id: str,
        *,
        backdrop_hex: str | None = None,
        attire: str | None = None,
        lighting: str | None = None,
        framing: str | None = None,
    ) -> Team:
        request = pb.SetTeamLookRequest(
            name=f"teams/{team_id(team)}",
            style_id=style_id,
            backdrop_hex=backdrop_hex or "",
            attire=attire or "",
            lighting=lighting or "",
            framing=framing or "",
        )
        return Team.from_proto(self.call("SetTeamLook", request))

    def set_team_retention(self, team: str | Team, retention_hours: int) -> Team:
        request = pb.SetTeamRetentionRequest(
            name=f"teams/{team_id(team)}", retention=duration_pb2.Duration(seconds=retention_hours * 3600)
        )
        return Team.from_proto(self.call("SetTeamRetention", request))

    def invite_team_member(self, team: str | Team, email: str, *, valid_days: int = 14) -> TeamInvitation:
        request = pb.CreateTeamInvitationRequest(parent=f"teams/{team_id(team)}", email=email, valid_days=valid_days)
        return TeamInvitation.from_proto(self.call("CreateTeamInvitation", request, idempotent=False))

    def create_team_invite_link(
        self, team: str | Team, max_uses: int, *, valid_days: int = 14, email_domain: str | None = None
    ) -> TeamInvitation:
        request = pb.CreateTeamInviteLinkRequest(
            parent=f"teams/{team_id(team)}", max_uses=max_uses, valid_days=valid_days, email_domain=email_domain or ""
        )
        return TeamInvitation.from_link_proto(self.call("CreateTeamInviteLink", request, idempotent=False))

    def revoke_team_invitation(self, team: str | Team, invitation: str | TeamInvitation) -> TeamInvitation:
        name = f"teams/{team_id(team)}/invitations/{last_id(invitation)}"
        return TeamInvitation.from_proto(self.call("DeleteTeamInvitation", pb.DeleteTeamInvitationRequest(name=name)))

    def list_team_members(self, team: str | Team, *, page_size: int = 50) -> Iterator[TeamMember]:
        parent = f"teams/{team_id(team)}"

        def fetch(token: str):
            request = pb.ListTeamMembersRequest(parent=parent, page_size=page_size, page_token=token)
            return self.call("ListTeamMembers", request)

        for message in self._pages(fetch, "members"):
            yield TeamMember.from_proto(message)

    def set_team_pick_state(self, team: str | Team, pick: str | TeamPick, state: str) -> TeamPick:
        request = pb.SetTeamPickStateRequest(name=f"teams/{team_id(team)}/picks/{last_id(pick)}", state=state)
        return TeamPick.from_proto(self.call("SetTeamPickState", request))

    def team_picks_archive(self, team: str | Team) -> bytes:
        request = pb.ExportTeamPicksRequest(parent=f"teams/{team_id(team)}")

        def attempt() -> bytes:  # a stream broken off is fetched again whole
            return b"".join(m.data for m in self.stream("ExportTeamPicks", request, self.timeout_s))

        return with_retries(attempt, self.retry, idempotent=True)

    def download_team_pick(self, team: str | Team, pick: str | TeamPick, to: str | Path) -> Path:
        name = f"teams/{team_id(team)}/picks/{last_id(pick)}"
        return self._download("DownloadTeamPick", pb.DownloadTeamPickRequest, name, target_path(last_id(pick), to))

    def remove_team_member(self, team: str | Team, member: str | TeamMember) -> list[DeletionReceipt]:
        name = f"teams/{team_id(team)}/members/{last_id(member)}"
        response = self.call("DeleteTeamMember", pb.DeleteTeamMemberRequest(name=name))
        return [DeletionReceipt.from_proto(r) for r in response.receipts]

    def remind_team_members(self, team: str | Team) -> int:
        request = pb.RemindTeamMembersRequest(name=f"teams/{team_id(team)}")
        return self.call("RemindTeamMembers", request, idempotent=False).reminded

    def team_usage(self, team: str | Team) -> TeamUsage:
        usage = self.call("GetTeamUsage", pb.GetTeamUsageRequest(name=f"teams/{team_id(team)}"))
        return TeamUsage(usage.seats, usage.seats_used, usage.headshots_delivered)

    def close(self) -> None:
        self.channel.close()

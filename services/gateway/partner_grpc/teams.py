"""PartnerService's team methods: the same services, selectors and input serializers as REST's teams API
(`teams`), so a partner meets the same rules and error codes over gRPC."""

from __future__ import annotations

from collections.abc import Iterator

from gateway.blobs import blob_store
from gateway.errors import InvalidArgument
from headshots.partner.v1 import partner_api_pb2 as pb
from orders import policy
from partner_grpc import calls, downloads, paging
from partner_grpc.inputs import validated
from partner_grpc.messages import _timestamp, receipt_message
from partner_grpc.names import (
    parse_team_invitation_name,
    parse_team_member_name,
    parse_team_name,
    parse_team_pick_name,
    team_invitation_name,
    team_member_name,
    team_name,
    team_pick_name,
)
from teams import mails, selectors, services
from teams.models import Invitation, Team
from teams.serializers import EmailInviteInput, LinkInput, LookInput, ModerateInput, RetentionInput, TeamCreateInput

# Invitation kinds by their REST value, as the proto enum names them.
_INVITATION_KIND = {value: f"KIND_{name}" for value, name in zip(Invitation.Kind.values, Invitation.Kind.names)}


def team_message(team: Team) -> pb.Team:
    usage = selectors.usage(team)
    look = team.look
    message = pb.Team(
        name=team_name(team.id),
        display_name=team.name,
        seats=team.seats,
        seats_used=usage["seats_used"],
        headshots_delivered=usage["headshots_delivered"],
        create_time=_timestamp(team.created_at),
    )
    message.retention.FromSeconds(team.retention_hours * 3600)
    if look:
        message.look.CopyFrom(
            pb.TeamLook(
                style_id=look["style_id"],
                style_display_name=look["style_name"],
                backdrop_hex=look["backdrop_hex"],
                prompt=look["prompt"],
                negative_prompt=look["negative_prompt"],
                sampler=look["sampler"],
                num_inference_steps=look["num_inference_steps"],
                guidance_scale=look["guidance_scale"],
                seed_base=look["seed_base"],
            )
        )
    return message


def _member_message(team: Team, row: dict) -> pb.TeamMember:
    return pb.TeamMember(
        name=team_member_name(team.id, row["id"]) if row["id"] else "",
        display_name=row["name"],
        email=row["email"] or "",
        state=row["state"],
        picks=[
            pb.TeamPick(name=team_pick_name(team.id, p["id"]), state=p["state"], style=p["style"])
            for p in row["shared_picks"]
        ],
    )


def _invitation_message(invitation: Invitation) -> pb.TeamInvitation:
    return pb.TeamInvitation(
        name=team_invitation_name(invitation.team_id, invitation.id),
        kind=_INVITATION_KIND[invitation.kind],
        email=invitation.email or "",
        email_domain=invitation.email_domain or "",
        max_uses=invitation.max_uses,
        uses=invitation.uses,
        expire_time=_timestamp(invitation.expires_at),
        revoke_time=_timestamp(invitation.revoked_at),
        create_time=_timestamp(invitation.created_at),
    )


def _retention_hours(message, field: str, default: int | None = policy.DEFAULT_RETENTION_HOURS) -> int:
    """A Duration field of whole hours as hours; unset is `default` (None: the field is required)."""
    if not message.HasField("retention"):
        if default is None:
            raise InvalidArgument(
                "invalid_argument", "the request has invalid fields", details={"fields": {field: ["required"]}}
            )
        return default
    seconds = message.retention.ToSeconds()
    if seconds % 3600 or message.retention.nanos:
        raise InvalidArgument(
            "invalid_argument",
            "the request has invalid fields",
            details={"fields": {field: ["must be a whole number of hours"]}},
        )
    return seconds // 3600


class TeamMethods:
    """Mixed into `service.PartnerService`."""

    @calls.answer()
    def CreateTeam(self, tenant, request, context):
        fields = validated(
            TeamCreateInput,
            {
                "name": request.team.display_name,
                "seats": request.team.seats,
                "retention_hours": _retention_hours(request.team, "team.retention"),
            },
            {"name": "team.display_name", "seats": "team.seats", "retention_hours": "team.retention"},
        )
        return team_message(services.create_team(tenant, **fields))

    @calls.answer()
    def SetTeamLook(self, tenant, request, context):
        team = selectors.team_for_admin(tenant, parse_team_name(request.name))
        data = {"style": request.style_id}
        data.update(
            {f: getattr(request, f) for f in ("backdrop_hex", "attire", "lighting", "framing") if getattr(request, f)}
        )
        fields = validated(LookInput, data, {"style": "style_id"})
        return team_message(services.set_look(team, style_id=fields.pop("style"), **fields))

    @calls.answer()
    def CreateTeamInviteLink(self, tenant, request, context):
        team = selectors.team_for_admin(tenant, parse_team_name(request.parent, "parent"))
        data = {"max_uses": request.max_uses, "valid_days": request.valid_days or services.DEFAULT_INVITATION_DAYS}
        if request.email_domain:
            data["email_domain"] = request.email_domain
        invitation, token = services.create_link(team, **validated(LinkInput, data, {}))
        return pb.TeamInviteLink(
            name=team_invitation_name(team.id, invitation.id),
            token=token,
            join_url=mails.join_url(token),
            max_uses=invitation.max_uses,
            email_domain=invitation.email_domain,
            expire_time=_timestamp(invitation.expires_at),
        )

    @calls.answer()
    def ListTeamMembers(self, tenant, request, context):
        team = selectors.team_for_admin(tenant, parse_team_name(request.parent, "parent"))
        members = selectors.members(team)
        rows, next_token = paging.page(members, request.page_size, request.page_token, f"teamMembers:{team.id}")
        return pb.ListTeamMembersResponse(
            members=[_member_message(team, row) for row in rows], next_page_token=next_token, total_size=len(members)
        )

    @calls.answer()
    def SetTeamPickState(self, tenant, request, context):
        team_id, pick_id = parse_team_pick_name(request.name)
        team = selectors.team_for_admin(tenant, team_id)
        state = validated(ModerateInput, {"state": request.state}, {})["state"]
        pick = services.moderate_pick(selectors.pick_of(team, pick_id), state)
        style = team.look.get("style_name", pick.headshot.style_id)
        return pb.TeamPick(name=team_pick_name(team.id, pick.id), state=pick.state, style=style)

    @calls.server_stream
    def ExportTeamPicks(self, tenant, request, context) -> Iterator[pb.ExportTeamPicksResponse]:
        team = selectors.team_for_admin(tenant, parse_team_name(request.parent, "parent"))
        with selectors.approved_picks_zip(team, blob_store()) as archive:
            data = archive.read()
        yield from downloads.chunks(data, "application/zip", pb.ExportTeamPicksResponse)

    @calls.server_stream
    def DownloadTeamPick(self, tenant, request, context) -> Iterator[pb.DownloadTeamPickResponse]:
        team_id, pick_id = parse_team_pick_name(request.name)
        pick = selectors.pick_of(selectors.team_for_admin(tenant, team_id), pick_id)
        data = blob_store().get(pick.headshot.blob_key)
        yield from downloads.resumable(data, "image/png", pb.DownloadTeamPickResponse, request.read_offset)

    @calls.answer()
    def DeleteTeamMember(self, tenant, request, context):
        team_id, member_id = parse_team_member_name(request.name)
        membership = selectors.member_of(selectors.team_for_admin(tenant, team_id), member_id)
        return pb.DeleteTeamMemberResponse(receipts=[receipt_message(r) for r in services.remove_member(membership)])

    @calls.answer()
    def GetTeam(self, tenant, request, context):
        return team_message(selectors.team_for_admin(tenant, parse_team_name(request.name)))

    @calls.answer()
    def ListTeams(self, tenant, request, context):
        teams = selectors.teams_of(tenant)
        rows, next_token = paging.page(teams, request.page_size, request.page_token, "teams")
        return pb.ListTeamsResponse(
            teams=[team_message(team) for team in rows],
            next_page_token=next_token,
            total_size=teams.count(),
        )

    @calls.answer()
    def DeleteTeam(self, tenant, request, context):
        team = selectors.team_for_admin(tenant, parse_team_name(request.name))
        return pb.DeleteTeamResponse(receipts=[receipt_message(r) for r in services.delete_team(team)])

    @calls.answer()
    def SetTeamRetention(self, tenant, request, context):
        team = selectors.team_for_admin(tenant, parse_team_name(request.name))
        hours = _retention_hours(request, "retention", default=None)
        fields = validated(RetentionInput, {"retention_hours": hours}, {"retention_hours": "retention"})
        return team_message(services.set_retention(team, fields["retention_hours"]))

    @calls.answer()
    def CreateTeamInvitation(self, tenant, request, context):
        team = selectors.team_for_admin(tenant, parse_team_name(request.parent, "parent"))
        data = {"email": request.email, "valid_days": request.valid_days or services.DEFAULT_INVITATION_DAYS}
        return _invitation_message(services.invite_by_email(team, **validated(EmailInviteInput, data, {})))

    @calls.answer()
    def DeleteTeamInvitation(self, tenant, request, context):
        team_id, invitation_id = parse_team_invitation_name(request.name)
        team = selectors.team_for_admin(tenant, team_id)
        return _invitation_message(services.revoke_invitation(selectors.invitation_of(team, invitation_id)))

    @calls.answer()
    def RemindTeamMembers(self, tenant, request, context):
        team = selectors.team_for_admin(tenant, parse_team_name(request.name))
        return pb.RemindTeamMembersResponse(reminded=services.remind(team))

    @calls.answer()
    def GetTeamUsage(self, tenant, request, context):
        usage = selectors.usage(selectors.team_for_admin(tenant, parse_team_name(request.name)))
        return pb.TeamUsage(**usage)

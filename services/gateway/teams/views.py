"""Thin REST views of teams: the admin's (the team's owner) and the member's, each resolved by a selector that
answers 404 to anyone else."""

from django.http import FileResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.blobs import blob_store
from gateway.byte_ranges import file_response
from gateway.limits import JSONParser
from gateway.rest_errors import ERROR_RESPONSES
from orders.representation import order_representation
from orders.serializers import DeletionReceiptOutput
from teams import mails, selectors, services
from teams.serializers import (
    EmailInviteInput,
    InvitationOutput,
    InvitationPreviewOutput,
    JoinInput,
    LinkInput,
    LinkOutput,
    LookInput,
    MemberListOutput,
    MembershipOutput,
    ModerateInput,
    PickOutput,
    ReminderOutput,
    RetentionInput,
    ShareInput,
    TeamCreateInput,
    TeamOutput,
    UsageOutput,
)


class JsonAPIView(APIView):
    parser_classes = [JSONParser]  # JSON bodies only: a form's empty field would read as "not given"


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _receipts(receipts) -> Response:
    return Response({"receipts": DeletionReceiptOutput(receipts, many=True).data})


def _pick(pick) -> dict:
    return {"id": pick.id, "headshot_id": pick.headshot_id, "state": pick.state}


class TeamListView(JsonAPIView):
    @extend_schema(request=TeamCreateInput, responses={201: TeamOutput, **ERROR_RESPONSES})
    def post(self, request):
        team = services.create_team(request.user.tenant, **_valid(TeamCreateInput, request.data))
        return Response(TeamOutput(team).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: TeamOutput(many=True), **ERROR_RESPONSES})
    def get(self, request):
        return Response(TeamOutput(selectors.teams_of(request.user.tenant), many=True).data)


class TeamDetailView(JsonAPIView):
    @extend_schema(responses={200: TeamOutput, **ERROR_RESPONSES})
    def get(self, request, team_id):
        return Response(TeamOutput(selectors.team_for_admin(request.user.tenant, team_id)).data)

    @extend_schema(
        responses={200: OpenApiResponse(description="a deletion receipt per member's order"), **ERROR_RESPONSES},
        description="Delete the team and every member's team order, each with its deletion receipt.",
    )
    def delete(self, request, team_id):
        return _receipts(services.delete_team(selectors.team_for_admin(request.user.tenant, team_id)))


class TeamLookView(JsonAPIView):
    @extend_schema(request=LookInput, responses={200: TeamOutput, **ERROR_RESPONSES})
    def put(self, request, team_id):
        team = selectors.team_for_admin(request.user.tenant, team_id)
        fields = _valid(LookInput, request.data)
        team = services.set_look(team, style_id=fields.pop("style"), **fields)
        return Response(TeamOutput(team).data)


class TeamRetentionView(JsonAPIView):
    @extend_schema(request=RetentionInput, responses={200: TeamOutput, **ERROR_RESPONSES})
    def put(self, request, team_id):
        team = selectors.team_for_admin(request.user.tenant, team_id)
        team = services.set_retention(team, _valid(RetentionInput, request.data)["retention_hours"])
        return Response(TeamOutput(team).data)


class InvitationListView(JsonAPIView):
    @extend_schema(request=EmailInviteInput, responses={201: InvitationOutput, **ERROR_RESPONSES})
    def post(self, request, team_id):
        team = selectors.team_for_admin(request.user.tenant, team_id)
        invitation = services.invite_by_email(team, **_valid(EmailInviteInput, request.data))
        return Response(InvitationOutput(invitation).data, status=status.HTTP_201_CREATED)


class LinkListView(JsonAPIView):
    @extend_schema(request=LinkInput, responses={201: LinkOutput, **ERROR_RESPONSES})
    def post(self, request, team_id):
        team = selectors.team_for_admin(request.user.tenant, team_id)
        invitation, token = services.create_link(team, **_valid(LinkInput, request.data))
        body = {**InvitationOutput(invitation).data, "token": token, "join_url": mails.join_url(token)}
        return Response(body, status=status.HTTP_201_CREATED)


class InvitationDetailView(JsonAPIView):
    @extend_schema(responses={200: InvitationOutput, **ERROR_RESPONSES}, description="Revoke an invitation or link.")
    def delete(self, request, team_id, invitation_id):
        team = selectors.team_for_admin(request.user.tenant, team_id)
        invitation = services.revoke_invitation(selectors.invitation_of(team, invitation_id))
        return Response(InvitationOutput(invitation).data)


class JoinView(JsonAPIView):
    @extend_schema(request=JoinInput, responses={201: MembershipOutput, **ERROR_RESPONSES})
    def post(self, request):
        invitation = selectors.invitation_for_token(_valid(JoinInput, request.data)["token"])
        membership = services.join(invitation, request.user.tenant)
        return Response(MembershipOutput(membership).data, status=status.HTTP_201_CREATED)


class JoinPreviewView(JsonAPIView):
    @extend_schema(request=JoinInput, responses={200: InvitationPreviewOutput, **ERROR_RESPONSES})
    def post(self, request):
        invitation = selectors.invitation_for_token(_valid(JoinInput, request.data)["token"])
        preview = {
            "team_name": invitation.team.name,
            "email_domain": invitation.email_domain,
            "expires_at": invitation.expires_at,
        }
        return Response(InvitationPreviewOutput(preview).data)


class MembershipView(JsonAPIView):
    @extend_schema(responses={200: MembershipOutput, **ERROR_RESPONSES}, description="The member's own membership.")
    def get(self, request, team_id):
        return Response(MembershipOutput(selectors.membership_of(request.user.tenant, team_id)).data)


class MemberOrderView(JsonAPIView):
    @extend_schema(
        request=None,
        responses={201: OpenApiResponse(description="the member's order, as GET of the order"), **ERROR_RESPONSES},
        description="Start (or get) the member's team order, in the team's look; then upload and submit it as any.",
    )
    def post(self, request, team_id):
        order = services.start_order(selectors.membership_of(request.user.tenant, team_id))
        return Response(order_representation(order), status=status.HTTP_201_CREATED)


class MemberPicksView(JsonAPIView):
    @extend_schema(request=ShareInput, responses={201: PickOutput(many=True), **ERROR_RESPONSES})
    def post(self, request, team_id):
        membership = selectors.membership_of(request.user.tenant, team_id)
        picks = services.share_picks(membership, _valid(ShareInput, request.data)["headshot_ids"])
        return Response([_pick(p) for p in picks], status=status.HTTP_201_CREATED)


class MemberListView(JsonAPIView):
    @extend_schema(responses={200: MemberListOutput, **ERROR_RESPONSES})
    def get(self, request, team_id):
        team = selectors.team_for_admin(request.user.tenant, team_id)
        return Response(MemberListOutput({"results": selectors.members(team)}).data)


class MemberDetailView(JsonAPIView):
    @extend_schema(
        responses={200: OpenApiResponse(description="the deletion receipt of the member's order"), **ERROR_RESPONSES},
        description="Remove a member: their team order's data is deleted, with its receipt, and their seat frees.",
    )
    def delete(self, request, team_id, membership_id):
        team = selectors.team_for_admin(request.user.tenant, team_id)
        return _receipts(services.remove_member(selectors.member_of(team, membership_id)))


class PickDetailView(JsonAPIView):
    @extend_schema(request=ModerateInput, responses={200: PickOutput, **ERROR_RESPONSES})
    def patch(self, request, team_id, pick_id):
        pick = selectors.pick_of(selectors.team_for_admin(request.user.tenant, team_id), pick_id)
        return Response(_pick(services.moderate_pick(pick, _valid(ModerateInput, request.data)["state"])))


class PickImageView(JsonAPIView):
    @extend_schema(responses={(200, "image/png"): OpenApiResponse(description="the PNG"), **ERROR_RESPONSES})
    def get(self, request, team_id, pick_id):
        pick = selectors.pick_of(selectors.team_for_admin(request.user.tenant, team_id), pick_id)
        return file_response(request, blob_store().get(pick.headshot.blob_key), "image/png", f"{pick.id}.png")


class ApprovedPicksZipView(JsonAPIView):
    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(description="approved picks and manifest.csv"),
            **ERROR_RESPONSES,
        }
    )
    def get(self, request, team_id):
        team = selectors.team_for_admin(request.user.tenant, team_id)
        archive = selectors.approved_picks_zip(team, blob_store())
        return FileResponse(archive, content_type="application/zip", as_attachment=True, filename=f"team-{team.id}.zip")


class ReminderView(JsonAPIView):
    @extend_schema(
        request=None,
        responses={202: ReminderOutput, **ERROR_RESPONSES},
        description="E-mail every member who has not started their team order yet (at most once an hour).",
    )
    def post(self, request, team_id):
        team = selectors.team_for_admin(request.user.tenant, team_id)
        return Response({"reminded": services.remind(team)}, status=status.HTTP_202_ACCEPTED)


class UsageView(JsonAPIView):
    @extend_schema(responses={200: UsageOutput, **ERROR_RESPONSES})
    def get(self, request, team_id):
        return Response(selectors.usage(selectors.team_for_admin(request.user.tenant, team_id)))

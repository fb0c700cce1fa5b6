"""Teams over the partner's gRPC API: the admin's journey (create, look, domain-locked link, members, approve,
export the ZIP whose CSV matches its files, remove a member with a receipt), members joining over REST with their own
accounts; and isolation: another partner's key finds none of the team's resources."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile

import grpc
import pytest
from django.utils import timezone
from google.protobuf import duration_pb2
from rest_framework.test import APIClient

from accounts.models import ApiKey, Tenant
from accounts.services import create_tenant_with_key, issue_api_key
from gateway.blobs import blob_store
from headshots.partner.v1 import partner_api_pb2 as pb
from headshots_common import blob_layout

from .support import complete_order, grpc_error_details


def _person(email: str) -> APIClient:
    tenant = Tenant.objects.create(
        kind=Tenant.Kind.CONSUMER, name=email.split("@")[0].title(), email=email, email_verified_at=timezone.now()
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_api_key(tenant, ApiKey.Kind.PERSONAL_TOKEN)}")
    return client


def _reason(call, *args, **kwargs) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, **kwargs)
    return caught.value.code(), grpc_error_details(caught.value)["ErrorInfo"].reason


def test_a_team_journey_over_grpc_and_no_other_partner_sees_it(partner):
    stub, auth = partner.stub, partner.auth
    team = stub.CreateTeam(
        pb.CreateTeamRequest(
            team=pb.Team(display_name="Initech", seats=2, retention=duration_pb2.Duration(seconds=48 * 3600))
        ),
        metadata=auth,
    )
    assert team.name.startswith("teams/") and team.seats == 2 and team.retention.seconds == 48 * 3600
    assert not team.HasField("look")
    team = stub.SetTeamLook(
        pb.SetTeamLookRequest(name=team.name, style_id="executive-black", backdrop_hex="#FFAA00"), metadata=auth
    )
    assert team.look.backdrop_hex == "#ffaa00" and "#ffaa00" in team.look.prompt and team.look.num_inference_steps
    assert _reason(stub.SetTeamLook, pb.SetTeamLookRequest(name=team.name, style_id="nope"), metadata=auth) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "invalid_argument",
    )
    link = stub.CreateTeamInviteLink(
        pb.CreateTeamInviteLinkRequest(parent=team.name, max_uses=5, email_domain="initech.example"), metadata=auth
    )
    assert link.join_url.endswith(link.token) and link.email_domain == "initech.example"

    people = {email: _person(email) for email in ("alice@initech.example", "bob@initech.example")}
    wrong = _person("eve@elsewhere.example").post("/v1/teams/join", {"token": link.token}, format="json")
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "email_domain_not_allowed"
    team_id = team.name.split("/")[1]
    for person in people.values():
        assert person.post("/v1/teams/join", {"token": link.token}, format="json").status_code == 201
        order_id = person.post(f"/v1/teams/{team_id}/order").json()["id"]
        complete_order(order_id, n=2)
        first = person.get(f"/v1/orders/{order_id}/headshots").json()["results"][0]["id"]
        assert person.post(f"/v1/teams/{team_id}/picks", {"headshot_ids": [first]}, format="json").status_code == 201

    members = stub.ListTeamMembers(pb.ListTeamMembersRequest(parent=team.name, page_size=1), metadata=auth)
    assert members.total_size == 2 and members.next_page_token and len(members.members) == 1
    rest = stub.ListTeamMembers(
        pb.ListTeamMembersRequest(parent=team.name, page_size=1, page_token=members.next_page_token), metadata=auth
    )
    listed = [*members.members, *rest.members]
    assert [(m.email, m.state, len(m.picks)) for m in listed] == [
        ("alice@initech.example", "picked", 1),
        ("bob@initech.example", "picked", 1),
    ]
    for member in listed:
        approved = stub.SetTeamPickState(
            pb.SetTeamPickStateRequest(name=member.picks[0].name, state="approved"), metadata=auth
        )
        assert approved.state == "approved"
    data = b"".join(c.data for c in stub.ExportTeamPicks(pb.ExportTeamPicksRequest(parent=team.name), metadata=auth))
    archive = zipfile.ZipFile(io.BytesIO(data))
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert [r["email"] for r in rows] == ["alice@initech.example", "bob@initech.example"]
    assert sorted(r["file"] for r in rows) == sorted(n for n in archive.namelist() if n != "manifest.csv")

    # One pick's PNG, as REST's picks/{pick}.png serves it: the same bytes, resumable, its SHA-256 named.
    pick = listed[0].picks[0].name
    admin = APIClient()
    admin.credentials(HTTP_AUTHORIZATION=dict(auth)["authorization"])
    served = admin.get(f"/v1/teams/{team_id}/picks/{pick.rsplit('/', 1)[1]}.png")
    assert served.status_code == 200
    png = b"".join(served.streaming_content) if served.streaming else served.content
    whole = list(stub.DownloadTeamPick(pb.DownloadTeamPickRequest(name=pick), metadata=auth))
    assert whole[0].content_type == "image/png" and whole[0].total_bytes == len(png)
    assert b"".join(c.data for c in whole) == png and whole[0].sha256 == hashlib.sha256(png).hexdigest()
    resumed = stub.DownloadTeamPick(pb.DownloadTeamPickRequest(name=pick, read_offset=100), metadata=auth)
    assert b"".join(c.data for c in resumed) == png[100:]
    past = pb.DownloadTeamPickRequest(name=pick, read_offset=len(png) + 1)
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.DownloadTeamPick(past, metadata=auth))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # Another partner: every team resource is NOT_FOUND, as another partner's orders are.
    _, other_key = create_tenant_with_key("other-partner")
    other = [("authorization", f"Bearer {other_key}")]
    for call, request in (
        (stub.SetTeamLook, pb.SetTeamLookRequest(name=team.name, style_id="tech-grey")),
        (stub.CreateTeamInviteLink, pb.CreateTeamInviteLinkRequest(parent=team.name, max_uses=1)),
        (stub.ListTeamMembers, pb.ListTeamMembersRequest(parent=team.name)),
        (stub.SetTeamPickState, pb.SetTeamPickStateRequest(name=listed[0].picks[0].name, state="hidden")),
        (stub.DeleteTeamMember, pb.DeleteTeamMemberRequest(name=listed[0].name)),
    ):
        assert _reason(call, request, metadata=other) == (grpc.StatusCode.NOT_FOUND, "not_found")
    for stream, request in (
        (stub.ExportTeamPicks, pb.ExportTeamPicksRequest(parent=team.name)),
        (stub.DownloadTeamPick, pb.DownloadTeamPickRequest(name=pick)),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            list(stream(request, metadata=other))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    # Removing Bob: his order's data goes, with its receipt; his seat frees.
    removed = stub.DeleteTeamMember(pb.DeleteTeamMemberRequest(name=listed[1].name), metadata=auth)
    (receipt,) = removed.receipts
    order_id = receipt.order.split("/")[1]
    assert receipt.headshots_deleted == 2 and receipt.remaining_blobs == 0
    assert not blob_store().list(blob_layout.order_prefix(order_id))
    members = stub.ListTeamMembers(pb.ListTeamMembersRequest(parent=team.name), metadata=auth)
    assert [m.email for m in members.members] == ["alice@initech.example"]


def _details(call, *args, **kwargs) -> tuple[grpc.StatusCode, dict]:
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, **kwargs)
    return caught.value.code(), grpc_error_details(caught.value)


def test_the_admin_dashboard_over_grpc_each_call_with_its_errors_and_none_for_another_partner(partner, mailoutbox):
    """Every admin call REST has, over gRPC: get and list teams (paged), retention, e-mail invitations and revoking
    them, reminders (once an hour), usage, deleting the team with a receipt per member; each refuses a bad input with
    its own status and reason, and another partner's key finds none of it."""
    stub, auth = partner.stub, partner.auth
    older = stub.CreateTeam(pb.CreateTeamRequest(team=pb.Team(display_name="Globex", seats=1)), metadata=auth)
    team = stub.CreateTeam(pb.CreateTeamRequest(team=pb.Team(display_name="Initech", seats=3)), metadata=auth)
    assert stub.GetTeam(pb.GetTeamRequest(name=team.name), metadata=auth) == team
    assert _reason(stub.GetTeam, pb.GetTeamRequest(name="teams/nope"), metadata=auth) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "invalid_name",
    )
    first = stub.ListTeams(pb.ListTeamsRequest(page_size=1), metadata=auth)
    assert [t.name for t in first.teams] == [team.name] and first.total_size == 2 and first.next_page_token
    rest = stub.ListTeams(pb.ListTeamsRequest(page_size=1, page_token=first.next_page_token), metadata=auth)
    assert [t.name for t in rest.teams] == [older.name] and not rest.next_page_token
    assert _reason(stub.ListTeams, pb.ListTeamsRequest(page_token="forged"), metadata=auth) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "invalid_page_token",
    )

    # Retention: whole hours up to 35 days; required.
    hours = duration_pb2.Duration
    kept = stub.SetTeamRetention(
        pb.SetTeamRetentionRequest(name=team.name, retention=hours(seconds=72 * 3600)), metadata=auth
    )
    assert kept.retention.seconds == 72 * 3600
    for retention, field in ((hours(seconds=36 * 24 * 3600), "retention"), (hours(seconds=5400), "retention")):
        code, details = _details(
            stub.SetTeamRetention, pb.SetTeamRetentionRequest(name=team.name, retention=retention), metadata=auth
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details["ErrorInfo"].reason == "invalid_argument"
        assert [v.field for v in details["BadRequest"].field_violations] == [field]
    assert _reason(stub.SetTeamRetention, pb.SetTeamRetentionRequest(name=team.name), metadata=auth) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "invalid_argument",
    )

    # An e-mail invitation: mailed, listed as "invited" until taken up or revoked.
    invitation = stub.CreateTeamInvitation(
        pb.CreateTeamInvitationRequest(parent=team.name, email="Carol@Initech.example", valid_days=3), metadata=auth
    )
    assert invitation.name.startswith(f"{team.name}/invitations/") and invitation.kind == pb.TeamInvitation.KIND_EMAIL
    assert invitation.email == "carol@initech.example" and not invitation.HasField("revoke_time")
    assert [m.to for m in mailoutbox] == [["carol@initech.example"]]
    code, details = _details(
        stub.CreateTeamInvitation,
        pb.CreateTeamInvitationRequest(parent=team.name, email="not-an-address"),
        metadata=auth,
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details["BadRequest"].field_violations[0].field == "email"
    members = stub.ListTeamMembers(pb.ListTeamMembersRequest(parent=team.name), metadata=auth).members
    assert [(m.email, m.state) for m in members] == [("carol@initech.example", "invited")]
    revoked = stub.DeleteTeamInvitation(pb.DeleteTeamInvitationRequest(name=invitation.name), metadata=auth)
    assert revoked.HasField("revoke_time") and revoked.name == invitation.name
    assert stub.DeleteTeamInvitation(pb.DeleteTeamInvitationRequest(name=invitation.name), metadata=auth) == revoked
    assert not stub.ListTeamMembers(pb.ListTeamMembersRequest(parent=team.name), metadata=auth).members
    assert _reason(stub.DeleteTeamInvitation, pb.DeleteTeamInvitationRequest(name=team.name), metadata=auth) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "invalid_name",
    )
    elsewhere = invitation.name.replace(team.name, older.name)  # an invitation of another of the admin's teams
    assert _reason(stub.DeleteTeamInvitation, pb.DeleteTeamInvitationRequest(name=elsewhere), metadata=auth) == (
        grpc.StatusCode.NOT_FOUND,
        "not_found",
    )

    # Two members: one waits (reminded), one has headshots (usage counts them).
    stub.SetTeamLook(pb.SetTeamLookRequest(name=team.name, style_id="tech-grey"), metadata=auth)
    link = stub.CreateTeamInviteLink(pb.CreateTeamInviteLinkRequest(parent=team.name, max_uses=2), metadata=auth)
    team_id = team.name.split("/")[1]
    waiting, done = _person("alice@initech.example"), _person("bob@initech.example")
    for person in (waiting, done):
        assert person.post("/v1/teams/join", {"token": link.token}, format="json").status_code == 201
    complete_order(done.post(f"/v1/teams/{team_id}/order").json()["id"], n=2)
    mailoutbox.clear()
    reminded = stub.RemindTeamMembers(pb.RemindTeamMembersRequest(name=team.name), metadata=auth)
    assert reminded.reminded == 1 and [m.to for m in mailoutbox] == [["alice@initech.example"]]
    code, details = _details(stub.RemindTeamMembers, pb.RemindTeamMembersRequest(name=team.name), metadata=auth)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and details["ErrorInfo"].reason == "reminders_rate_limited"
    assert details["RetryInfo"].retry_delay.seconds > 0
    usage = stub.GetTeamUsage(pb.GetTeamUsageRequest(name=team.name), metadata=auth)
    assert (usage.seats, usage.seats_used, usage.headshots_delivered) == (3, 2, 2)
    assert _reason(stub.GetTeamUsage, pb.GetTeamUsageRequest(name=""), metadata=auth) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "invalid_name",
    )

    # Another partner: each of the team's resources is NOT_FOUND, and its list is empty.
    _, other_key = create_tenant_with_key("other-partner")
    other = [("authorization", f"Bearer {other_key}")]
    for call, request in (
        (stub.GetTeam, pb.GetTeamRequest(name=team.name)),
        (stub.DeleteTeam, pb.DeleteTeamRequest(name=team.name)),
        (stub.SetTeamRetention, pb.SetTeamRetentionRequest(name=team.name, retention=hours(seconds=3600))),
        (stub.CreateTeamInvitation, pb.CreateTeamInvitationRequest(parent=team.name, email="eve@initech.example")),
        (stub.DeleteTeamInvitation, pb.DeleteTeamInvitationRequest(name=invitation.name)),
        (stub.RemindTeamMembers, pb.RemindTeamMembersRequest(name=team.name)),
        (stub.GetTeamUsage, pb.GetTeamUsageRequest(name=team.name)),
    ):
        assert _reason(call, request, metadata=other) == (grpc.StatusCode.NOT_FOUND, "not_found"), call
    listed = stub.ListTeams(pb.ListTeamsRequest(), metadata=other)
    assert not listed.teams and listed.total_size == 0

    # Deleting the team: each member's team order goes with its receipt (Alice had not started one).
    deleted = stub.DeleteTeam(pb.DeleteTeamRequest(name=team.name), metadata=auth)
    (receipt,) = deleted.receipts
    assert receipt.headshots_deleted == 2 and receipt.remaining_blobs == 0
    assert not blob_store().list(blob_layout.order_prefix(receipt.order.split("/")[1]))
    assert _reason(stub.GetTeam, pb.GetTeamRequest(name=team.name), metadata=auth) == (
        grpc.StatusCode.NOT_FOUND,
        "not_found",
    )
    assert [t.name for t in stub.ListTeams(pb.ListTeamsRequest(), metadata=auth).teams] == [older.name]

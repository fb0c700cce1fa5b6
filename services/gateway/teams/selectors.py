"""Reads for teams. What an admin may see of a member is decided here, once: their name, e-mail, the state of
their team order (one word) and the headshots they shared. Never their selfies, other headshots, readiness advice or
whether their e-mail is verified; and members see nothing of one another."""

from __future__ import annotations

import csv
import io
import re
import tempfile
import zipfile
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.models import Tenant
from gateway.errors import NotFound, PermissionDenied
from orders.models import Headshot, Order
from orders.selectors import ZIP_SPOOL_BYTES, parse_id
from teams.models import Invitation, Membership, SharedPick, Team

# What the admin sees of a member's progress; `order_state` maps an order onto it.
MEMBER_STATES = ("invited", "joined", "uploading", "training", "ready", "picked", "failed")
MANIFEST_COLUMNS = ("name", "email", "file", "style")


def team_for_admin(tenant: Tenant, team_id) -> Team:
    """The team, when `tenant` owns it; anyone else's team is indistinguishable from a missing one."""
    team = Team.objects.filter(owner=tenant, pk=parse_id(team_id, "team")).first()
    if team is None:
        raise NotFound("team")
    return team


def membership_of(tenant: Tenant, team_id) -> Membership:
    """The caller's own membership of the team (members act on nothing else)."""
    memberships = Membership.objects.select_related("team", "order")
    membership = memberships.filter(member=tenant, team_id=parse_id(team_id, "team")).first()
    if membership is None:
        if Team.objects.filter(owner=tenant, pk=parse_id(team_id, "team")).exists():
            # The admin knows the team exists: say why, rather than that it does not.
            raise PermissionDenied("not_a_member", "these calls are a member's; the team's admin is not a member")
        raise NotFound("team")
    return membership


def team_of_order(order: Order) -> Team | None:
    """The team an order is its member's team order for (None for any other order)."""
    membership = Membership.objects.select_related("team").filter(order=order).first()
    return membership.team if membership else None


def teams_of(tenant: Tenant) -> QuerySet[Team]:
    """The teams the tenant administers, newest first."""
    return Team.objects.filter(owner=tenant).order_by("-created_at")


def invitation_for_token(token: str) -> Invitation:
    from teams.services import hash_token

    invitation = Invitation.objects.select_related("team").filter(token_hash=hash_token(token)).first()
    if invitation is None:
        raise NotFound("invitation")
    return invitation


def invitation_of(team: Team, invitation_id) -> Invitation:
    invitation = team.invitations.filter(pk=parse_id(invitation_id, "invitation")).first()
    if invitation is None:
        raise NotFound("invitation")
    return invitation


def pick_of(team: Team, pick_id) -> SharedPick:
    pick = (
        SharedPick.objects.select_related("headshot", "membership__member")
        .filter(membership__team=team, pk=parse_id(pick_id, "pick"))
        .first()
    )
    if pick is None:
        raise NotFound("pick")
    return pick


def member_of(team: Team, membership_id) -> Membership:
    membership = team.memberships.filter(pk=parse_id(membership_id, "member")).first()
    if membership is None:
        raise NotFound("member")
    return membership


def order_state(order: Order | None, picks: int) -> str:
    if picks:
        return "picked"
    if order is None or order.state == Order.State.DELETED:
        return "joined"
    if order.state == Order.State.AWAITING_PHOTOS:
        return "uploading" if order.photo_states else "joined"
    if order.state == Order.State.COMPLETED:
        return "ready"
    if order.state == Order.State.FAILED:
        return "failed"
    return "training"


def members(team: Team) -> list[dict[str, Any]]:
    """Each member as the admin sees them, and each open e-mail invitation ("invited")."""
    rows: list[dict[str, Any]] = []
    memberships = (
        team.memberships.select_related("member", "order")
        .annotate(shared=Count("picks", filter=~Q(picks__state=SharedPick.State.HIDDEN)))
        .order_by("joined_at")
    )
    for membership in memberships:
        rows.append(
            {
                "id": str(membership.id),
                "name": membership.member.name,
                "email": membership.member.email,
                "state": order_state(membership.order, membership.shared),
                "joined_at": membership.joined_at,
                "shared_picks": [
                    {"id": str(p.id), "state": p.state, "style": team.look.get("style_name", p.headshot.style_id)}
                    for p in membership.picks.select_related("headshot").order_by("shared_at")
                ],
            }
        )
    joined = {m.member.email for m in memberships}
    open_invitations = team.invitations.filter(
        kind=Invitation.Kind.EMAIL, revoked_at=None, uses=0, expires_at__gt=timezone.now()
    ).exclude(email__in=joined)
    for invitation in open_invitations.order_by("created_at"):
        invited = {"id": None, "name": "", "email": invitation.email, "state": "invited", "joined_at": None}
        rows.append({**invited, "shared_picks": []})
    return rows


def usage(team: Team) -> dict[str, int]:
    """For the partner's billing: seats taken and headshots delivered to the team's members."""
    return {
        "seats": team.seats,
        "seats_used": team.memberships.count(),
        "headshots_delivered": Headshot.objects.filter(order__membership__team=team).count(),
    }


def _filename(index: int, name: str, style: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", f"{name}-{style}".lower()).strip("-") or "headshot"
    return f"{index:03d}-{slug}.png"


def approved_picks_zip(team: Team, blobs):
    """The approved picks as one ZIP with `manifest.csv` (name, e-mail, file, style): one row per file."""
    picks = (
        SharedPick.objects.select_related("headshot", "membership__member")
        .filter(membership__team=team, state=SharedPick.State.APPROVED)
        .order_by("membership__joined_at", "shared_at")
    )
    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(MANIFEST_COLUMNS)
    spool = tempfile.SpooledTemporaryFile(max_size=ZIP_SPOOL_BYTES)  # noqa: SIM115  (the response closes it)
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
        for index, pick in enumerate(picks, start=1):
            member = pick.membership.member
            style = team.look.get("style_name", pick.headshot.style_id)
            name = _filename(index, member.name, style)
            archive.writestr(name, blobs.get(pick.headshot.blob_key))
            writer.writerow([member.name, member.email, name, style])
        archive.writestr("manifest.csv", manifest.getvalue())
    spool.seek(0)
    return spool


def team_metrics() -> list[tuple[str, int, int]]:
    """(team id, seats used, headshots delivered) of every team, for the gateway's gauges."""
    seats = dict(Team.objects.annotate(n=Count("memberships")).values_list("id", "n"))
    delivered = dict(
        Headshot.objects.filter(order__membership__isnull=False)
        .values_list("order__membership__team")
        .annotate(n=Count("id"))
        .values_list("order__membership__team", "n")
    )
    return [(str(team_id), used, delivered.get(team_id, 0)) for team_id, used in seats.items()]

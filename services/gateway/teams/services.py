"""Writes for teams: create a team, fix its look and retention, invite (e-mail, shared link), join, start a
member's order, share and moderate picks, remove a member, delete a team.

Admin rights are the team owner's (`selectors.team_for_admin`); a member acts only on their own membership
(`selectors.membership_of`). Deletions reuse the orders' own (`orders.services.retention.delete_order`), so each
member's data goes with its deletion receipt.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Tenant
from gateway import ratelimit
from gateway.errors import Conflict, FailedPrecondition, InvalidArgument, PermissionDenied, ResourceExhausted
from headshots_common.styles import (
    FRAMINGS,
    HEX_COLOUR,
    LOOK_GUIDANCE_SCALE,
    LOOK_NUM_INFERENCE_STEPS,
    LOOK_SAMPLER,
    NEGATIVE_PROMPT,
    STYLES,
    brand_variant,
)
from orders import policy
from orders.models import DeletionReceipt, Headshot, Order
from orders.services import creation, retention
from teams import mails
from teams.models import Invitation, Membership, SharedPick, Team

MAX_SEATS = 1000
MAX_INVITATION_DAYS = 90
DEFAULT_INVITATION_DAYS = 14  # how long an invitation lasts when the admin does not say
TOKEN_BYTES = 32
# Reminders: one round per team per this window, so the API cannot be used to flood members' inboxes.
REMINDER_RATE = "1/hour"
# A link's domain lock: a host name such as example.com.
DOMAIN = r"^([A-Za-z0-9-]{1,63}\.)+[A-Za-z0-9-]{2,63}$"
# Every member's order is one team package (`headshots_common.styles.PACKAGES`).
TEAM_PACKAGE = "team"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _about(field: str, message: str) -> dict:
    """An InvalidArgument's details naming the request field at fault."""
    return {"fields": {field: [message]}}


def _check_retention(retention_hours: int) -> None:
    if not 1 <= retention_hours <= policy.MAX_RETENTION_HOURS:
        raise InvalidArgument(
            "invalid_retention",
            f"retention_hours must be between 1 and {policy.MAX_RETENTION_HOURS} ({policy.MAX_RETENTION.days} days)",
            details=_about("retention_hours", f"at most {policy.MAX_RETENTION.days} days"),
        )


def create_team(owner: Tenant, *, name: str, seats: int, retention_hours: int = policy.DEFAULT_RETENTION_HOURS) -> Team:
    if not 1 <= seats <= MAX_SEATS:
        raise InvalidArgument(
            "invalid_seats",
            f"seats must be between 1 and {MAX_SEATS}",
            details=_about("seats", f"seats must be between 1 and {MAX_SEATS}"),
        )
    _check_retention(retention_hours)
    return Team.objects.create(owner=owner, name=name, seats=seats, retention_hours=retention_hours)


def set_retention(team: Team, retention_hours: int) -> Team:
    """The team's policy for the orders its members start from now on."""
    _check_retention(retention_hours)
    team.retention_hours = retention_hours
    team.save(update_fields=["retention_hours"])
    return team


def set_look(
    team: Team,
    *,
    style_id: str,
    backdrop_hex: str = "",
    attire: str = "",
    lighting: str = "",
    framing: str = "",
) -> Team:
    """Fix the team's look: a catalogue style as it is, or a brand variant of one (where given, its own backdrop
    colour, attire, lighting and framing). The exact render settings are recorded, seed schedule included: every
    order started from now on renders with them."""
    if style_id not in STYLES:
        raise InvalidArgument(
            "unknown_style",
            f"unknown style {style_id!r}; see GET /v1/styles",
            details=_about("style", f"unknown style {style_id!r}; see GET /v1/styles"),
        )
    style = STYLES[style_id]
    if framing and framing not in FRAMINGS:
        raise InvalidArgument(
            "invalid_framing",
            f"framing must be one of {list(FRAMINGS)}",
            details=_about("framing", f"framing must be one of {list(FRAMINGS)}"),
        )
    if backdrop_hex and not HEX_COLOUR.match(backdrop_hex):
        raise InvalidArgument(
            "invalid_backdrop_colour",
            "backdrop_hex is a colour as #rrggbb",
            details=_about("backdrop_hex", "a colour as #rrggbb"),
        )
    if backdrop_hex or attire or lighting or framing:
        style = brand_variant(
            style, backdrop_hex, attire or style.attire, lighting or style.lighting, framing or style.framing
        )
    team.look = {
        "style_id": style.id,
        "style_name": style.name,
        "backdrop_hex": style.swatch,
        "prompt": style.look_prompt(),
        "negative_prompt": NEGATIVE_PROMPT,
        "sampler": LOOK_SAMPLER,
        "num_inference_steps": LOOK_NUM_INFERENCE_STEPS,
        "guidance_scale": LOOK_GUIDANCE_SCALE,
        "seed_base": secrets.randbits(48),
        # What the admin chose, to show the form as set (the settings above are what renders).
        "brand": {"backdrop_hex": backdrop_hex.lower(), "attire": attire, "lighting": lighting, "framing": framing},
    }
    team.save(update_fields=["look"])
    return team


def _new_invitation(team: Team, **fields) -> tuple[Invitation, str]:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return Invitation.objects.create(team=team, token_hash=hash_token(token), **fields), token


def _expiry(valid_days: int):
    if not 1 <= valid_days <= MAX_INVITATION_DAYS:
        raise InvalidArgument(
            "invalid_expiry",
            f"valid_days must be between 1 and {MAX_INVITATION_DAYS}",
            details=_about("valid_days", f"valid_days must be between 1 and {MAX_INVITATION_DAYS}"),
        )
    return timezone.now() + timedelta(days=valid_days)


@transaction.atomic
def invite_by_email(team: Team, email: str, valid_days: int = DEFAULT_INVITATION_DAYS) -> Invitation:
    expires_at = _expiry(valid_days)
    email = email.strip().lower()
    invitation, token = _new_invitation(team, kind=Invitation.Kind.EMAIL, email=email, expires_at=expires_at)
    mails.invitation(email, team.name, token, valid_days)
    return invitation


def create_link(team: Team, *, max_uses: int, valid_days: int, email_domain: str = "") -> tuple[Invitation, str]:
    """A shared link: anyone holding it may join, up to `max_uses` times, until it expires or is revoked; with an
    `email_domain`, only people whose verified e-mail is at that domain. The token is shown once."""
    if not 1 <= max_uses <= MAX_SEATS:
        raise InvalidArgument(
            "invalid_max_uses",
            f"max_uses must be between 1 and {MAX_SEATS}",
            details=_about("max_uses", f"max_uses must be between 1 and {MAX_SEATS}"),
        )
    domain = email_domain.strip().lower()
    if domain and not re.match(DOMAIN, domain):
        raise InvalidArgument(
            "invalid_email_domain",
            "email_domain is a domain such as example.com",
            details=_about("email_domain", "a domain such as example.com"),
        )
    return _new_invitation(
        team, kind=Invitation.Kind.LINK, email_domain=domain, max_uses=max_uses, expires_at=_expiry(valid_days)
    )


def revoke_invitation(invitation: Invitation) -> Invitation:
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation


def _check_can_join(invitation: Invitation, member: Tenant) -> None:
    if member.kind != Tenant.Kind.CONSUMER:
        raise PermissionDenied("members_are_people", "a team member joins with their own Headshots account")
    if invitation.revoked_at is not None:
        raise Conflict("invitation_revoked", "this invitation was withdrawn; ask the team's admin for a new one")
    if invitation.expires_at <= timezone.now():
        raise Conflict("invitation_expired", "this invitation has expired; ask the team's admin for a new one")
    if invitation.uses >= invitation.max_uses:
        raise Conflict("invitation_used_up", "this invitation has been used as often as it may be")
    restricted_to = invitation.email_domain or invitation.email
    if restricted_to and member.email_verified_at is None:
        raise PermissionDenied(
            "email_not_verified", "verify your e-mail address first: this invitation is for particular addresses"
        )
    email = (member.email or "").lower()
    if invitation.kind == Invitation.Kind.EMAIL and email != invitation.email:
        raise PermissionDenied("invitation_for_another_email", "this invitation was sent to another e-mail address")
    if invitation.email_domain and email.rpartition("@")[2] != invitation.email_domain:
        raise PermissionDenied(
            "email_domain_not_allowed",
            f"this invitation is for e-mail addresses at {invitation.email_domain}",
            details={"email_domain": invitation.email_domain},
        )


def join(invitation: Invitation, member: Tenant) -> Membership:
    """Take a seat with an invitation. Joining again is harmless (the same membership, no seat or use taken)."""
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=invitation.team_id)  # seats and uses are counted one at a time
        existing = Membership.objects.filter(team=team, member=member).first()
        if existing is not None:
            return existing
        invitation = Invitation.objects.get(pk=invitation.pk)
        _check_can_join(invitation, member)
        if team.memberships.count() >= team.seats:
            raise Conflict(
                "team_full", f"every one of the team's {team.seats} seats is taken", details={"seats": team.seats}
            )
        invitation.uses += 1
        invitation.save(update_fields=["uses"])
        return Membership.objects.create(team=team, member=member)


def start_order(membership: Membership) -> Order:
    """The member's order for the team, in the team's look and under its retention policy (one per member)."""
    with transaction.atomic():
        membership = Membership.objects.select_for_update().select_related("team", "member").get(pk=membership.pk)
        if membership.order is not None and membership.order.state != Order.State.DELETED:
            return membership.order
        team = membership.team
        if not team.look:
            raise FailedPrecondition("team_look_not_set", "the team's admin has not chosen the team's look yet")
        order = creation.create_order(
            membership.member,
            package=TEAM_PACKAGE,
            style_ids=[team.look["style_id"]],
            retention_hours=team.retention_hours,
            render_look=dict(team.look),
            test_mode=team.owner.test_mode,
        )
        membership.order = order
        membership.save(update_fields=["order"])
        return order


def remind(team: Team) -> int:
    """E-mail each member who has not started their team order yet (joined, or still adding photos); returns how
    many were reminded. One round per REMINDER_RATE."""
    wait = ratelimit.hit(ratelimit.key("team_reminders", team.pk), REMINDER_RATE)
    if wait is not None:
        raise ResourceExhausted(
            "reminders_rate_limited",
            "the team's members were reminded recently; remind them again later",
            retry_after_s=int(wait) + 1,
        )
    waiting = team.memberships.select_related("member", "order").filter(
        Q(order__isnull=True) | Q(order__state=Order.State.AWAITING_PHOTOS)
    )
    with transaction.atomic():
        for membership in waiting:
            mails.reminder(membership.member.email or "", membership.member.name, team.name)
    return len(waiting)


def share_picks(membership: Membership, headshot_ids: list) -> list[SharedPick]:
    """Share some of the member's headshots with the team's admin (only these are ever shown to the admin)."""
    order = membership.order
    headshots = list(Headshot.objects.filter(order=order, id__in=headshot_ids)) if order else []
    if order is None or len(headshots) != len(set(map(str, headshot_ids))):
        raise InvalidArgument(
            "unknown_headshot",
            "share only headshots of your team order",
            details=_about("headshot_ids", "share only headshots of your team order"),
        )
    with transaction.atomic():
        return [SharedPick.objects.get_or_create(membership=membership, headshot=h)[0] for h in headshots]


def moderate_pick(pick: SharedPick, state: str) -> SharedPick:
    if state not in (SharedPick.State.APPROVED, SharedPick.State.HIDDEN):
        raise InvalidArgument(
            "invalid_pick_state", "state is approved or hidden", details=_about("state", "state is approved or hidden")
        )
    pick.state = state
    pick.save(update_fields=["state"])
    return pick


def remove_member(membership: Membership) -> list[DeletionReceipt]:
    """The member leaves the team and their team order's data is deleted, each deletion with its receipt."""
    receipts = []
    if membership.order is not None:
        receipts.append(retention.delete_order(membership.order))
    membership.delete()
    return receipts


def enforce_retention(now=None) -> int:
    """Each team's policy: a member's whole team order (headshots too) is deleted `retention_hours` after its
    delivery, with a receipt (reason TEAM_POLICY). Returns how many were deleted (gateway-worker's retention loop)."""
    now = now or timezone.now()
    delivered = Order.objects.filter(
        state=Order.State.COMPLETED,
        membership__isnull=False,
        completed_at__lte=now - timedelta(hours=1),  # no policy is shorter
    ).select_related("membership__team")
    due = [o for o in delivered if o.completed_at + timedelta(hours=o.membership.team.retention_hours) <= now]
    for order in due:
        retention.delete_order(order, reason=retention.TEAM_POLICY)
    return len(due)


def delete_team(team: Team) -> list[DeletionReceipt]:
    """Every member's team order deleted (with receipts), then the team, its invitations and picks."""
    receipts = [r for membership in team.memberships.all() for r in remove_member(membership)]
    team.delete()
    return receipts

"""A team: a tenant's group of people who order headshots in one brand look.

The team's owner (a partner, for one of its customers, or a consumer) is its admin; a member is a consumer account
that joined with an invitation. Each member's order records the team's look (`orders.Order.render_look`).
"""

import uuid

from django.db import models

from accounts.models import Tenant
from orders.models import Headshot, Order


class Team(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="teams_owned")
    name = models.CharField(max_length=200)
    seats = models.PositiveIntegerField()
    # The brand look every member's order is rendered with ({} until the admin sets it): the exact render settings,
    # as `orders.Order.render_look` records them.
    look = models.JSONField(default=dict, blank=True)
    # How long members' photos and adapters are kept after delivery (never over the 35-day limit).
    retention_hours = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    @property
    def look_or_none(self) -> dict | None:
        return self.look or None


class Membership(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    member = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="team_memberships")
    # The member's order for the team (null until they start it).
    order = models.OneToOneField(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="membership")
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "member"], name="membership_unique_member")]


class Invitation(models.Model):
    """An e-mail invitation (to one address) or a shared link (anyone holding it, within its limits)."""

    class Kind(models.TextChoices):
        EMAIL = "email"
        LINK = "link"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # Only the token's SHA-256 is stored: a database read cannot be turned into a way in.
    token_hash = models.CharField(max_length=64, unique=True)
    email = models.EmailField(blank=True, default="")  # an e-mail invitation's address
    email_domain = models.CharField(max_length=253, blank=True, default="")  # a link's lock ("" none)
    max_uses = models.PositiveIntegerField(default=1)
    uses = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class SharedPick(models.Model):
    """A headshot a member shared with the team's admin, who approves or hides it."""

    class State(models.TextChoices):
        SHARED = "shared"
        APPROVED = "approved"
        HIDDEN = "hidden"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="picks")
    headshot = models.OneToOneField(Headshot, on_delete=models.CASCADE, related_name="team_pick")
    state = models.CharField(max_length=16, choices=State.choices, default=State.SHARED)
    shared_at = models.DateTimeField(auto_now_add=True)

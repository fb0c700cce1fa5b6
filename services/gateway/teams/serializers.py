"""Input and output shapes of the teams API."""

from rest_framework import serializers

from headshots_common.styles import FRAMINGS, STYLE_IDS
from orders import policy
from teams import selectors
from teams.models import Invitation, SharedPick
from teams.services import DEFAULT_INVITATION_DAYS, DOMAIN, MAX_INVITATION_DAYS, MAX_SEATS


class Text(serializers.CharField):
    """A string, and only a string (DRF's CharField would take 0 for "0": not what the schema says)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class TeamCreateInput(serializers.Serializer):
    name = Text(max_length=200)
    seats = serializers.IntegerField(min_value=1, max_value=MAX_SEATS)
    retention_hours = serializers.IntegerField(
        min_value=1, max_value=policy.MAX_RETENTION_HOURS, default=policy.DEFAULT_RETENTION_HOURS
    )


class RetentionInput(serializers.Serializer):
    retention_hours = serializers.IntegerField(min_value=1, max_value=policy.MAX_RETENTION_HOURS)


class LookInput(serializers.Serializer):
    style = serializers.ChoiceField(choices=STYLE_IDS, help_text="the catalogue style, or the base of a brand variant")
    backdrop_hex = serializers.RegexField(r"^#[0-9a-fA-F]{6}$", required=False)
    attire = Text(max_length=100, required=False, default="", allow_blank=True)
    lighting = Text(max_length=100, required=False, default="", allow_blank=True)
    framing = serializers.ChoiceField(choices=FRAMINGS, required=False)


class LookOutput(serializers.Serializer):
    style_id = serializers.CharField()
    style_name = serializers.CharField()
    backdrop_hex = serializers.CharField()
    prompt = serializers.CharField(help_text='"{subject}" stands for the person')
    negative_prompt = serializers.CharField()
    sampler = serializers.CharField()
    num_inference_steps = serializers.IntegerField()
    guidance_scale = serializers.FloatField()
    seed_base = serializers.IntegerField()


class TeamOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    seats = serializers.IntegerField()
    retention_hours = serializers.IntegerField()
    look = LookOutput(allow_null=True, source="look_or_none")
    created_at = serializers.DateTimeField()


class EmailInviteInput(serializers.Serializer):
    email = serializers.EmailField()
    valid_days = serializers.IntegerField(min_value=1, max_value=MAX_INVITATION_DAYS, default=DEFAULT_INVITATION_DAYS)


class LinkInput(serializers.Serializer):
    max_uses = serializers.IntegerField(min_value=1, max_value=MAX_SEATS)
    valid_days = serializers.IntegerField(min_value=1, max_value=MAX_INVITATION_DAYS, default=DEFAULT_INVITATION_DAYS)
    email_domain = serializers.RegexField(
        DOMAIN, max_length=253, required=False, allow_blank=True, help_text="e.g. example.com"
    )


class InvitationOutput(serializers.ModelSerializer):
    class Meta:
        model = Invitation
        fields = ["id", "kind", "email", "email_domain", "max_uses", "uses", "expires_at", "revoked_at", "created_at"]


class LinkOutput(InvitationOutput):
    token = serializers.CharField(help_text="shown once: whoever holds it may join within the link's limits")
    join_url = serializers.CharField()

    class Meta(InvitationOutput.Meta):
        fields = [*InvitationOutput.Meta.fields, "token", "join_url"]


class JoinInput(serializers.Serializer):
    token = Text(max_length=200)


class InvitationPreviewOutput(serializers.Serializer):
    """What a link shows before joining: the team's name and the link's limits, never who is in the team."""

    team_name = serializers.CharField()
    email_domain = serializers.CharField()
    expires_at = serializers.DateTimeField()


class MembershipOutput(serializers.Serializer):
    """The member's own view of their team: its name and look, and their own order."""

    team_id = serializers.UUIDField(source="team.id")
    team_name = serializers.CharField(source="team.name")
    look = LookOutput(allow_null=True, source="team.look_or_none")
    order_id = serializers.UUIDField(allow_null=True, source="order.id", default=None)
    joined_at = serializers.DateTimeField()


class SharedPickSummary(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=SharedPick.State.choices)
    style = serializers.CharField()


class MemberOutput(serializers.Serializer):
    id = serializers.UUIDField(allow_null=True, help_text="null for an e-mail invitation not taken up yet")
    name = serializers.CharField()
    email = serializers.EmailField()
    state = serializers.ChoiceField(choices=selectors.MEMBER_STATES)
    joined_at = serializers.DateTimeField(allow_null=True)
    shared_picks = SharedPickSummary(many=True)


class MemberListOutput(serializers.Serializer):
    results = MemberOutput(many=True)


class ShareInput(serializers.Serializer):
    headshot_ids = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=200)


class PickOutput(serializers.Serializer):
    id = serializers.UUIDField()
    headshot_id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=SharedPick.State.choices)


class ModerateInput(serializers.Serializer):
    state = serializers.ChoiceField(choices=[SharedPick.State.APPROVED, SharedPick.State.HIDDEN])


class UsageOutput(serializers.Serializer):
    seats = serializers.IntegerField()
    seats_used = serializers.IntegerField()
    headshots_delivered = serializers.IntegerField()


class ReminderOutput(serializers.Serializer):
    reminded = serializers.IntegerField(help_text="members e-mailed")

"""Input and output shapes of the account endpoints."""

from rest_framework import serializers

from accounts.services import MIN_PASSWORD_LENGTH


class SignupInput(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(min_length=MIN_PASSWORD_LENGTH, max_length=200, write_only=True)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)


class TokenInput(serializers.Serializer):
    # Any text: an address that is not one simply matches no account (401), like a wrong password.
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=200, write_only=True)


class TokenOutput(serializers.Serializer):
    token = serializers.CharField()
    tenant_id = serializers.UUIDField()


class TokenInfoOutput(serializers.Serializer):
    """A key or token as its owner sees it: never the secret itself, which is shown once at creation."""

    prefix = serializers.CharField(help_text="the part after hs_ that names it; revoke it by this")
    kind = serializers.ChoiceField(choices=["api_key", "personal_token"])
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    active = serializers.BooleanField()
    current = serializers.BooleanField(help_text="whether this request was made with it")


class TokenListOutput(serializers.Serializer):
    results = TokenInfoOutput(many=True)

"""Input and output shapes of the account endpoints."""

from rest_framework import serializers


class SignupInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(
        max_length=200,
        write_only=True,
        trim_whitespace=False,
        help_text="at least 10 characters, not a common password, not all digits, not like the e-mail or name "
        "(else 400 `weak_password` says which)",
    )
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)


class StatusOutput(serializers.Serializer):
    """What the account endpoints that send e-mail answer: the same whether or not the address has an account."""

    status = serializers.ChoiceField(choices=["verification_sent", "reset_sent", "password_changed"])
    message = serializers.CharField()


class TokenInput(serializers.Serializer):
    # Any text: an address that is not one simply matches no account (401), like a wrong password.
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=200, write_only=True, trim_whitespace=False)


class TokenOutput(serializers.Serializer):
    token = serializers.CharField()
    tenant_id = serializers.UUIDField()


class LinkTokenInput(serializers.Serializer):
    token = serializers.CharField(max_length=500, help_text="the `token` of the link in the e-mail")


class PasswordResetInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmInput(serializers.Serializer):
    token = serializers.CharField(max_length=500, help_text="the `token` of the link in the e-mail")
    password = serializers.CharField(
        max_length=200, write_only=True, trim_whitespace=False, help_text="the new password (rules as at sign-up)"
    )


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

"""Input and output shapes of the account endpoints."""

from rest_framework import serializers

from accounts.services import MIN_PASSWORD_LENGTH


class SignupInput(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(min_length=MIN_PASSWORD_LENGTH, max_length=200, write_only=True)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)


class TokenInput(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(max_length=200, write_only=True)


class TokenOutput(serializers.Serializer):
    token = serializers.CharField()
    tenant_id = serializers.UUIDField()

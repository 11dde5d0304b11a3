from __future__ import annotations

from django.contrib.auth.validators import UnicodeUsernameValidator
from rest_framework import serializers

from accounts.models import User


class RegisterSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField(default="bearer")
    expires_in = serializers.IntegerField()
    username = serializers.CharField(required=False)


class RefreshSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(required=False)
    refresh = serializers.CharField(required=False, help_text="Alias of refresh_token.")

    def validate(self, attrs):
        token = attrs.get("refresh_token") or attrs.get("refresh")
        if not token:
            raise serializers.ValidationError({"refresh_token": ["This field is required."]})
        return {"refresh": token}


class UserSerializer(serializers.ModelSerializer):
    avatar_url = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = User
        fields = ["id", "username", "email", "avatar_url", "date_joined", "last_login"]
        read_only_fields = fields


class ProfileUpdateSerializer(serializers.Serializer):
    username = serializers.CharField(
        max_length=150, required=False, validators=[UnicodeUsernameValidator()]
    )
    email = serializers.EmailField(max_length=254, required=False)
    current_password = serializers.CharField(required=False, write_only=True, trim_whitespace=False)
    new_password = serializers.CharField(
        required=False, write_only=True, trim_whitespace=False, max_length=128
    )
    avatar = serializers.FileField(required=False, allow_empty_file=False)
    remove_avatar = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if attrs.get("new_password") and not attrs.get("current_password"):
            raise serializers.ValidationError(
                {"current_password": ["The current password is required to set a new one."]}
            )
        if attrs.get("avatar") and attrs.get("remove_avatar"):
            raise serializers.ValidationError(
                {"avatar": ["Send either an avatar or remove_avatar, not both."]}
            )
        return attrs

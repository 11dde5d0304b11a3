"""Butler's JWTs: issuing them, and the one check every request and WebSocket goes through.

Every token carries the user's `token_version` (claim `ver`). Changing the password moves the
version on, so every token issued before (access tokens included, not only refresh tokens)
stops working at once instead of living out its 30 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, TokenError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User

VERSION_CLAIM = "ver"
REVOKED = "This token is no longer valid (the password was changed). Log in again."


def tokens_for(user: User) -> RefreshToken:
    """A new refresh token (its `.access_token` too) for `user`, stamped with its version."""
    refresh = RefreshToken.for_user(user)
    refresh[VERSION_CLAIM] = user.token_version
    return refresh


def is_current(token, user: User) -> bool:
    """Whether `token` was issued since the user's last password change."""
    return token.get(VERSION_CLAIM, 0) == user.token_version


@dataclass(frozen=True)
class TokenUser:
    user: User
    expires_at: datetime


def user_for_access_token(raw: str) -> TokenUser | None:
    """The active user a raw access token names, and when it expires; None if the token is
    malformed, expired, revoked by a password change, or its user is gone or inactive."""
    try:
        token = AccessToken(raw)
        user_id = token["user_id"]
    except (TokenError, KeyError):
        return None
    user = User.objects.filter(id=user_id, is_active=True).first()
    if user is None or not is_current(token, user):
        return None
    return TokenUser(user=user, expires_at=datetime.fromtimestamp(token["exp"], tz=UTC))


class VersionedJWTAuthentication(JWTAuthentication):
    """simplejwt's bearer authentication, refusing tokens from before a password change."""

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if not is_current(validated_token, user):
            raise AuthenticationFailed(REVOKED, code="token_revoked")
        return user

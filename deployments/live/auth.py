"""Who is on the other end of a WebSocket, and for how long.

A socket is signed in by one of:
- `Authorization: Bearer <access token>` on the handshake (the CLI);
- `?token=<access token>` (browsers, whose WebSocket API cannot set headers). The query
  string is never logged: daphne's access log writes the path alone, and nothing here
  writes either;
- the session cookie (the web UI).
A token, when one is given, is the credential even if a cookie comes along too: a bad token is
refused, never quietly replaced by the session. Tokens are checked by
`accounts.tokens.user_for_access_token`, as every request is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from importlib import import_module
from urllib.parse import parse_qs

from channels.auth import get_user
from channels.db import database_sync_to_async
from django.conf import settings

from accounts.models import User
from accounts.tokens import user_for_access_token


@dataclass(frozen=True)
class Credential:
    """The user a socket acts for, until when, and how to check it again (`repr` hides it)."""

    user: User
    expires_at: datetime | None
    token: str | None = field(default=None, repr=False)
    session_key: str | None = field(default=None, repr=False)


def header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin1")
    return None


def bearer_token(scope: dict) -> str | None:
    value = header(scope, b"authorization") or ""
    kind, _, token = value.partition(" ")
    return token.strip() if kind.lower() == "bearer" and token.strip() else None


def query_token(scope: dict) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin1")).get("token")
    return values[0] if values and values[0] else None


@database_sync_to_async
def _from_token(token: str) -> Credential | None:
    found = user_for_access_token(token)
    return Credential(found.user, found.expires_at, token=token) if found else None


@database_sync_to_async
def _session_expiry(session) -> datetime | None:
    return session.get_expiry_date()


async def authenticate(scope: dict) -> Credential | None:
    """The socket's credential, or None: no credential, or a bad, expired or revoked one."""
    token = bearer_token(scope) or query_token(scope)
    if token:
        return await _from_token(token)
    user = scope.get("user")
    session = scope.get("session")
    if user is None or not user.is_authenticated or session is None:
        return None
    return Credential(
        user, await _session_expiry(session), session_key=getattr(session, "session_key", None)
    )


async def still_valid(credential: Credential) -> bool:
    """Whether the credential still signs its user in (after a password change, a logout)."""
    if credential.token is not None:
        again = await _from_token(credential.token)
        return again is not None and again.user.id == credential.user.id
    if not credential.session_key:
        return False
    store = import_module(settings.SESSION_ENGINE).SessionStore(credential.session_key)
    user = await get_user({"session": store})
    return bool(user.is_authenticated) and user.id == credential.user.id

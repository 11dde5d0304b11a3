"""The handshake's Origin check (Cross-Site WebSocket Hijacking).

A browser sends an `Origin` with every WebSocket handshake, and a page on another site could
open a socket that carries the user's session cookie: Channels' `AllowedHostsOriginValidator`
refuses an Origin that is not one of `ALLOWED_HOSTS`, and a handshake without one. A command
line client sends no Origin; it may connect without one only with an
`Authorization: Bearer` header, which no page can make a browser send (and which says who it
is without any cookie).
"""

from __future__ import annotations

from channels.security.websocket import AllowedHostsOriginValidator


def _has(scope: dict, name: bytes) -> bool:
    return any(key.lower() == name for key, _ in scope.get("headers", []))


def _bearer(scope: dict) -> bool:
    for key, value in scope.get("headers", []):
        if key.lower() == b"authorization":
            return value[:7].lower() == b"bearer "
    return False


class OriginOrBearerValidator:
    """`AllowedHostsOriginValidator`, except for a handshake with no Origin and a bearer token."""

    def __init__(self, application) -> None:
        self.application = application
        self.validated = AllowedHostsOriginValidator(application)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not _has(scope, b"origin") and _bearer(scope):
            return await self.application(scope, receive, send)
        return await self.validated(scope, receive, send)

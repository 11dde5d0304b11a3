"""Helpers for tests of the WebSocket streams, through the real ASGI application."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from accounts.tokens import VERSION_CLAIM
from butler_site.asgi import application

ORIGIN = (b"origin", b"http://localhost")


def access_token(user, *, lifetime: timedelta | None = None) -> str:
    """An access token as login issues it (without the database: fine in async tests)."""
    token = AccessToken.for_user(user)
    token[VERSION_CLAIM] = user.token_version
    if lifetime is not None:
        token.set_exp(lifetime=lifetime)
    return str(token)


def forged_token(user) -> str:
    """A well-formed token whose signature is not Butler's."""
    raw = str(AccessToken.for_user(user))
    return raw[:-6] + ("AAAAAA" if not raw.endswith("AAAAAA") else "BBBBBB")


def socket(path: str, *, user=None, token: str | None = None, headers=None, origin=True):
    """A communicator on `path`; `user` signs it in with `?token=`."""
    if user is not None and token is None:
        token = access_token(user)
    if token is not None:
        path += ("&" if "?" in path else "?") + f"token={token}"
    headers = list(headers or [])
    if origin:
        headers.append(ORIGIN)
    return WebsocketCommunicator(application, path, headers=headers)


async def messages_until_closed(communicator, timeout: float = 5) -> tuple[list[dict], int]:
    """Every message until the server closes, and the close code."""
    messages = []
    deadline = time.monotonic() + timeout
    while True:
        output = await communicator.receive_output(timeout=max(0.01, deadline - time.monotonic()))
        if output["type"] == "websocket.close":
            return messages, output.get("code", 1000)
        if output["type"] == "websocket.send":
            messages.append(json.loads(output["text"]))


async def open_then_closed(communicator, timeout: float = 5) -> int:
    """Connect; the close code the server then sends (the socket is accepted first)."""
    connected, _ = await communicator.connect(timeout=timeout)
    assert connected, "the handshake itself was refused"
    messages, code = await messages_until_closed(communicator, timeout)
    assert messages == []
    return code


async def next_message(communicator, timeout: float = 5) -> dict:
    output = await communicator.receive_output(timeout=timeout)
    assert output["type"] == "websocket.send", output
    return json.loads(output["text"])


async def nothing_arrives(communicator, seconds: float = 0.5) -> bool:
    return await communicator.receive_nothing(timeout=seconds)


async def eventually(check, timeout: float = 5, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(interval)
    raise AssertionError("timed out")

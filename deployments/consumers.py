"""Live deployment logs over WebSocket: `ws/deployments/<id>/`.

The browser (session cookie) or a client (`?token=<JWT access token>`) gets the stored log
lines, then new lines and status changes as they happen, and the socket closes once the
deployment is finished. Lines are read from the database, so this works with SQLite and no
Redis; with Redis, pushed events wake the consumer sooner.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404

from accounts.tokens import user_for_access_token
from core.events import deployment_group
from deployments.models import Deployment
from deployments.selectors import deployment_get_for_user, deployment_log_lines

POLL_SECONDS = 0.5
NOT_FOUND = 4404


@database_sync_to_async
def _user_from_token(token: str):
    found = user_for_access_token(token)
    return found.user if found else None


@database_sync_to_async
def _deployment(user, deployment_id) -> Deployment | None:
    try:
        return deployment_get_for_user(user=user, deployment_id=deployment_id)
    except Http404:
        return None


@database_sync_to_async
def _news(deployment_id: int, after: int) -> tuple[list[dict], str]:
    deployment = Deployment.objects.get(id=deployment_id)
    lines = deployment_log_lines(deployment=deployment, after=after, limit=1000)
    return (
        [
            {"seq": ln.seq, "time": ln.created_at.isoformat(), "stream": ln.stream, "text": ln.text}
            for ln in lines
        ],
        deployment.status,
    )


class DeploymentLogConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        token = parse_qs(self.scope.get("query_string", b"").decode()).get("token")
        if token:
            user = await _user_from_token(token[0])
        deployment = None
        if user is not None and user.is_authenticated:
            deployment = await _deployment(user, self.scope["url_route"]["kwargs"]["deployment_id"])
        if deployment is None:
            await self.close(code=NOT_FOUND)  # not yours, or not logged in: nothing to see
            return
        self.deployment_id = deployment.id
        self.after = 0
        self.wake = asyncio.Event()
        await self.accept()
        if self.channel_layer is not None:
            await self.channel_layer.group_add(
                deployment_group(self.deployment_id), self.channel_name
            )
        self.follower = asyncio.ensure_future(self.follow())

    async def follow(self):
        status = None
        while True:
            lines, new_status = await _news(self.deployment_id, self.after)
            if lines:
                self.after = lines[-1]["seq"]
                await self.send_json({"type": "log", "lines": lines})
            if new_status != status:
                status = new_status
                await self.send_json({"type": "status", "status": status})
            if status not in Deployment.UNFINISHED and len(lines) < 1000:
                await self.close()
                return
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=POLL_SECONDS)

    async def butler_event(self, message):
        self.wake.set()

    async def disconnect(self, code):
        follower = getattr(self, "follower", None)
        if follower is not None:
            follower.cancel()
        if getattr(self, "deployment_id", None) and self.channel_layer is not None:
            await self.channel_layer.group_discard(
                deployment_group(self.deployment_id), self.channel_name
            )

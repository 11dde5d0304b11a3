"""The WebSocket consumers: `ws/events/`, `ws/deployments/{id}/`, `ws/projects/{id}/logs/`.

A refused socket is accepted and then closed, so the refusal reaches the client as a close
code it can read (a refused handshake is a bare HTTP 403): 4401 without a valid credential
(none, expired, revoked), 4403 for a deployment or project that is not the user's (or does not
exist: the two look the same). An open socket closes with 4401 when its token or session
expires, or when its credential stops being valid (a password change, a logout); with 1008
when the client sends a message over 4 KB or more than 10 in a second (clients need send
nothing).

Events reach a socket through the web process's `Hub` (embedded default) or the Redis
channel layer's groups (`REDIS_URL`); either way they land in the socket's inbox, and one
task per socket works through it in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http import Http404
from django.utils import timezone

from core import events
from core.errors import ApplicationError
from deployments.live.auth import Credential, authenticate, still_valid
from deployments.live.hub import get_hub
from deployments.live.pacing import MAX_LINES_PER_MESSAGE, LinePacer
from deployments.live.runtime_logs import (
    RuntimeFollower,
    RuntimeTarget,
    StreamLines,
    end_reason,
    parse_tail,
    runtime_target,
)
from deployments.models import Deployment
from deployments.selectors import deployment_get_for_user, deployment_log_lines
from projects.selectors import project_get_for_user

logger = logging.getLogger(__name__)

UNAUTHORIZED = 4401
FORBIDDEN = 4403
POLICY = 1008
MAX_CLIENT_MESSAGE_BYTES = 4096
MAX_CLIENT_MESSAGES_PER_SECOND = 10
# A deployment that ended without its worker saying its log is complete (cancelled in the
# queue, failed by the reconcile): lines may still come this long after its end.
LOG_END_GRACE_SECONDS = 5.0
REPLAY_CHUNK = 1000
BATCH_SECONDS = 0.05  # a socket following a container sends at most this often


class LiveConsumer(AsyncWebsocketConsumer):
    """Authentication, limits on what the client sends, expiry, and an inbox of events."""

    # The deployment whose log batches this socket wants with their lines (the hub reads
    # them once for every socket that follows it).
    followed_deployment: int | None = None

    async def connect(self):
        self._shut = False
        self._tasks: set[asyncio.Task] = set()
        self._timers: list[asyncio.TimerHandle] = []
        self._unsubscribe = None
        self._recent: deque[float] = deque(maxlen=MAX_CLIENT_MESSAGES_PER_SECOND + 1)
        self.inbox: deque[dict] = deque()
        self.wake = asyncio.Event()
        credential = await authenticate(self.scope)
        if credential is None:
            await self.refuse(UNAUTHORIZED, "Sign in: no valid access token or session.")
            return
        self.credential: Credential = credential
        self.user = credential.user
        if not await self.open():
            await self.refuse(FORBIDDEN, "Not found.")
            return
        # Listening before the handshake completes: once a client sees the socket open,
        # nothing published from then on can pass it by.
        await self.listen()
        await self.accept()
        if credential.expires_at is not None:
            seconds = (credential.expires_at - timezone.now()).total_seconds()
            self._timers.append(
                asyncio.get_running_loop().call_later(
                    max(0.0, seconds),
                    lambda: self.spawn(self.shut(UNAUTHORIZED, "The credential expired.")),
                )
            )
        self.spawn(self.guarded_run())

    async def refuse(self, code: int, reason: str) -> None:
        """Accept, then close with `code`: a refused handshake would reach the client as a
        bare HTTP 403, without the code that says why."""
        await self.accept()
        await self.shut(code, reason)

    # -- for subclasses --

    async def open(self) -> bool:
        """Load what the socket shows; False if it is not the user's."""
        return True

    async def run(self) -> None:
        raise NotImplementedError

    def wants(self, message: dict) -> bool:
        """Whether an event of the user goes into this socket's inbox."""
        return False

    def stop(self) -> None:
        """Release what the socket holds (called once, on close or disconnect)."""

    # -- plumbing --

    def spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def guarded_run(self) -> None:
        try:
            await self.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("a live socket failed")
            await self.shut(1011, "Internal error.")

    async def listen(self) -> None:
        if settings.REDIS_URL and self.channel_layer is not None:
            groups = [events.user_group(self.user.id)]
            if self.followed_deployment is not None:
                groups.append(events.deployment_group(self.followed_deployment))
            for group in groups:
                await self.channel_layer.group_add(group, self.channel_name)
                self.groups.append(group)
            return
        self._unsubscribe = await get_hub().subscribe(
            user_id=self.user.id, callback=self.on_event, deployment_id=self.followed_deployment
        )

    async def butler_event(self, message: dict) -> None:
        """An event from the Redis channel layer."""
        self.on_event(message["event"])

    def on_event(self, message: dict) -> None:
        if self._shut:
            return
        if message.get("type") == events.CREDENTIALS_REVOKED:
            self.spawn(self._check_credential())
        elif self.wants(message):
            self.inbox.append(message)
            self.wake.set()

    async def _check_credential(self) -> None:
        if not await still_valid(self.credential):
            await self.shut(UNAUTHORIZED, "The credential is no longer valid.")

    async def next_events(self, timeout: float | None) -> list[dict]:
        """The inbox, after waiting up to `timeout` seconds (None: until something comes)."""
        if not self.inbox:
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)
        found = list(self.inbox)
        self.inbox.clear()
        return found

    async def send_json(self, content: dict) -> None:
        if not self._shut:
            await self.send(text_data=json.dumps(content))

    async def shut(self, code: int = 1000, reason: str = "") -> None:
        """Close from this side (once)."""
        if self._shut:
            return
        self._release()
        await self.close(code=code, reason=reason[:120])

    def _release(self) -> None:
        if getattr(self, "_shut", True):
            return
        self._shut = True
        for timer in self._timers:
            timer.cancel()
        if self._unsubscribe is not None:
            self._unsubscribe()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        self.stop()

    async def websocket_receive(self, message):
        data = message.get("text")
        size = len(data.encode()) if data is not None else len(message.get("bytes") or b"")
        if size > MAX_CLIENT_MESSAGE_BYTES:
            await self.shut(POLICY, "Messages from the client are limited to 4 KB.")
            return
        now = time.monotonic()
        self._recent.append(now)
        if len(self._recent) > MAX_CLIENT_MESSAGES_PER_SECOND and now - self._recent[0] < 1.0:
            await self.shut(POLICY, "Too many messages: at most 10 a second.")
        # Nothing a client says changes what it is sent.

    async def disconnect(self, code):
        self._release()


# ---------------------------------------------------------------------------------------------
# ws/events/


class EventsConsumer(LiveConsumer):
    """The signed-in user's events as they happen: deployment and project status changes,
    deletions (`Event.as_message()`, whatever fields the event carries)."""

    def wants(self, message: dict) -> bool:
        return message.get("type") not in events.INTERNAL

    async def run(self) -> None:
        while True:
            for message in await self.next_events(None):
                await self.send_json(message)


# ---------------------------------------------------------------------------------------------
# ws/deployments/{id}/?after=<seq>

# The order statuses come in: an event older than the status already sent is not sent.
STATUS_ORDER = {
    Deployment.Status.QUEUED: 0,
    Deployment.Status.CLONING: 1,
    Deployment.Status.BUILDING: 2,
    Deployment.Status.STARTING: 3,
    Deployment.Status.RUNNING: 4,
    Deployment.Status.FAILED: 5,
    Deployment.Status.CANCELLED: 5,
    Deployment.Status.SUPERSEDED: 5,
}


@database_sync_to_async
def _deployment_for(user, deployment_id) -> Deployment | None:
    try:
        return deployment_get_for_user(user=user, deployment_id=deployment_id)
    except Http404:
        return None


@database_sync_to_async
def _stored_lines(deployment_id: int, after: int, upto: int | None = None) -> list[dict]:
    deployment = Deployment(id=deployment_id)
    lines = deployment_log_lines(deployment=deployment, after=after, limit=REPLAY_CHUNK)
    return [
        {"seq": ln.seq, "time": ln.created_at.isoformat(), "stream": ln.stream, "text": ln.text}
        for ln in lines
        if upto is None or ln.seq <= upto
    ]


@database_sync_to_async
def _deployment_state(deployment_id: int) -> dict | None:
    return (
        Deployment.objects.filter(id=deployment_id)
        .values("status", "started_at", "finished_at")
        .first()
    )


class DeploymentLogConsumer(LiveConsumer):
    """A deployment's log: the stored lines after `?after=`, then new lines and status
    changes as they happen; closes (1000) once the deployment has finished and every line
    was sent, or when its project is deleted."""

    async def open(self) -> bool:
        deployment = await _deployment_for(
            self.user, self.scope["url_route"]["kwargs"]["deployment_id"]
        )
        if deployment is None:
            return False
        self.deployment_id = deployment.id
        self.project_id = deployment.project_id
        self.followed_deployment = deployment.id
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        try:
            self.after = max(0, int(query.get("after", ["0"])[0]))
        except ValueError:
            self.after = 0
        self.pacer = LinePacer(settings.BUTLER_WS_MAX_LINES_PER_SECOND)
        self.shown_status: str | None = None
        self.log_complete = False
        self.closed_seq: int | None = None
        self.end_by: float | None = None  # when to stop waiting for a closing word
        self.deleted = False
        return True

    def wants(self, message: dict) -> bool:
        kind = message.get("type")
        if kind in (events.DEPLOYMENT_LOG, events.DEPLOYMENT_STATUS):
            return message.get("deployment_id") == self.deployment_id
        if kind == events.PROJECT_DELETED:
            return self.project_id == message.get("project_id") or self.project_id in (
                message.get("component_ids") or []
            )
        return False

    async def run(self) -> None:
        while True:  # the stored lines, unpaced: the log is capped
            lines = await _stored_lines(self.deployment_id, self.after)
            for start in range(0, len(lines), MAX_LINES_PER_MESSAGE):
                await self.send_json(
                    {"type": "log", "lines": lines[start : start + MAX_LINES_PER_MESSAGE]}
                )
            if lines:
                self.after = lines[-1]["seq"]
            if len(lines) < REPLAY_CHUNK:
                break
        state = await _deployment_state(self.deployment_id)
        if state is None:
            await self.shut(1000)
            return
        self.shown_status = state["status"]
        await self.send_json({"type": "status", "status": self.shown_status})
        if self.shown_status not in Deployment.UNFINISHED:
            ended = state["finished_at"] or timezone.now()
            age = (timezone.now() - ended).total_seconds()
            if state["started_at"] is None or age >= LOG_END_GRACE_SECONDS:
                self.log_complete = True  # no worker will write to it any more
            else:
                self.end_by = time.monotonic() + LOG_END_GRACE_SECONDS - age
        while True:
            for out in self.pacer.take():
                await self.send_json(out)
            if await self._finished():
                await self.shut(1000)
                return
            for message in await self.next_events(self._timeout()):
                await self.handle(message)

    def _timeout(self) -> float | None:
        waits = [w for w in (self.pacer.wait_seconds(),) if w is not None]
        if self.end_by is not None and not self.log_complete:
            waits.append(max(0.0, self.end_by - time.monotonic()))
        return min(waits) if waits else None

    async def handle(self, message: dict) -> None:
        kind = message["type"]
        if kind == events.PROJECT_DELETED:
            self.deleted = True
        elif kind == events.DEPLOYMENT_STATUS:
            status = message.get("status")
            if STATUS_ORDER.get(status, -1) > STATUS_ORDER.get(self.shown_status, -1):
                self.shown_status = status
                self.pacer.add_message({"type": "status", "status": status})
                if status not in Deployment.UNFINISHED and self.end_by is None:
                    self.end_by = time.monotonic() + LOG_END_GRACE_SECONDS
        elif kind == events.DEPLOYMENT_LOG:
            if message.get("closed"):
                self.closed_seq = int(message.get("last_seq") or 0)
                await self._catch_up(self.closed_seq)
            else:
                await self._lines(message)

    async def _lines(self, message: dict) -> None:
        first, last = int(message.get("first_seq", 0)), int(message.get("last_seq", 0))
        if last <= self.after:
            return  # sent already (the replay, or the other group)
        lines = message.get("lines")
        if lines is None or first > self.after + 1:
            await self._catch_up(last)  # missed some: read them back
            return
        self.pacer.add_lines([line for line in lines if line["seq"] > self.after])
        self.after = last

    async def _catch_up(self, upto: int | None) -> None:
        """Queue the stored lines up to `upto` (None: all there are); beyond what the socket
        may wait for, the oldest are skipped."""
        if upto is not None:
            if upto <= self.after:
                return
            if upto - self.after > self.pacer.backlog:
                skipped = upto - self.after - self.pacer.backlog
                self.pacer.skip(skipped)
                self.after += skipped
        while upto is None or self.after < upto:
            lines = await _stored_lines(self.deployment_id, self.after, upto)
            if not lines:
                break
            self.pacer.add_lines(lines)
            self.after = lines[-1]["seq"]

    async def _finished(self) -> bool:
        if self.deleted:
            return self.pacer.empty
        if self.shown_status in Deployment.UNFINISHED or self.shown_status is None:
            return False
        if not self.log_complete:
            if self.closed_seq is not None and self.after >= self.closed_seq:
                self.log_complete = True
            elif self.end_by is not None and time.monotonic() >= self.end_by:
                await self._catch_up(None)  # whatever was stored meanwhile
                self.log_complete = True
        return self.log_complete and self.pacer.empty


# ---------------------------------------------------------------------------------------------
# ws/projects/{id}/logs/?tail=200&component=frontend|backend


@database_sync_to_async
def _project_for(user, project_id):
    try:
        return project_get_for_user(user=user, project_id=project_id)
    except Http404:
        return None


@database_sync_to_async
def _target(project, component) -> RuntimeTarget:
    return runtime_target(project=project, component=component)


@database_sync_to_async
def _end_reason(target: RuntimeTarget) -> str:
    return end_reason(target)


class RuntimeLogConsumer(LiveConsumer):
    """The running container's own output: its last `?tail=` lines, then what it prints, as
    it prints it; `{"type": "end", "reason": …}` and a close when it stops or is replaced."""

    async def open(self) -> bool:
        self.project = await _project_for(
            self.user, self.scope["url_route"]["kwargs"]["project_id"]
        )
        if self.project is None:
            return False
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        self.component = (query.get("component") or [None])[0]
        self.tail_arg = (query.get("tail") or [None])[0]
        return True

    follower: RuntimeFollower | None = None

    def stop(self) -> None:
        if self.follower is not None:
            self.follower.stop()

    async def end(self, reason: str) -> None:
        await self.send_json({"type": "end", "reason": reason})
        await self.shut(1000)

    async def run(self) -> None:
        try:
            tail = parse_tail(self.tail_arg)
            target = await _target(self.project, self.component)
        except ApplicationError as exc:
            await self.end(exc.message)
            return
        rate = settings.BUTLER_WS_MAX_LINES_PER_SECOND
        pacer = LinePacer(rate, backlog=max(rate, tail))
        lines = StreamLines(target.masker)
        self.follower = RuntimeFollower(
            target, tail=tail, loop=asyncio.get_running_loop(), wake=self.wake, max_chunks=4 * rate
        )
        self.follower.start()
        while True:
            self.wake.clear()
            finished = self.follower.finished  # read first: the drain then holds the rest
            chunks, dropped = self.follower.drain()
            for chunk in chunks:
                pacer.add_lines(lines.feed(chunk))
            if dropped:  # output after these chunks was lost: no line may join across it
                lines.drop_partial()
                pacer.skip(dropped)
            if finished:
                pacer.add_lines(lines.finish())
            for out in pacer.take(lines.render):
                await self.send_json(out)
            if finished and pacer.empty:
                break
            if chunks or finished:
                # Let more output gather: a flood goes out in a few messages a second.
                await asyncio.sleep(max(BATCH_SECONDS, pacer.wait_seconds() or 0.0))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), pacer.wait_seconds())
        if self.follower.error:
            reason = f"Lost the container's output: {self.follower.error}"
        elif not self.follower.running:
            reason = f"{target.project.app_name} has no running container: " + (
                await _end_reason(target)
            )
        else:
            reason = await _end_reason(target)
        await self.end(reason)

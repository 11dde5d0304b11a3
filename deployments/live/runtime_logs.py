"""A running app's own output (stdout and stderr), read from the engine, never stored.

`runtime_target` finds the container a project (or one component of a multi-repo project)
runs now and the values to mask in its output: those of the release it runs (what the
container was given) and the project's current variables. `runtime_log_read` answers
`GET /api/projects/{id}/logs`; `RuntimeFollower` is the thread behind one
`ws/projects/{id}/logs/` socket. Either way pieces of output are joined into whole lines per
stream before masking, so a value split across two reads is masked too.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.errors import ApplicationError, ConflictError
from core.masking import LineJoiner, Masker
from deployments.models import Deployment
from deployments.releases import SnapshotUnreadable, release_env
from deployments.runtime import get_runtime
from deployments.runtime.base import ContainerNotFound, LogChunk, LogFollow, RuntimeFailure
from envvars.services import envvars_for_deploy
from projects.models import Project

DEFAULT_TAIL = 200
MAX_TAIL = 5000
COMPONENTS = (Project.Component.FRONTEND, Project.Component.BACKEND)


@dataclass(frozen=True)
class RuntimeTarget:
    project: Project  # the project or component whose container it is
    deployment: Deployment  # the deployment that runs it
    container_id: str
    masker: Masker = field(repr=False)

    @property
    def component(self) -> str | None:
        return self.project.component_type


class NoRunningContainer(ConflictError):
    """Nothing runs for the project: there is no output to follow."""


def runtime_component(*, project: Project, component: str | None) -> Project:
    """The project whose container to read: `project`, or its `component` if it is a
    multi-repo parent (which has no container of its own)."""
    component = (component or "").strip() or None
    if project.project_type == "split":
        if component not in COMPONENTS:
            raise ApplicationError(
                f"{project.app_name} is a multi-repo project: choose ?component=frontend or "
                "?component=backend.",
                field="component",
            )
        child = project.children.filter(component_type=component).first()
        if child is None:
            raise NoRunningContainer(f"{project.app_name} has no {component} component.")
        return child
    if component is not None and component != project.component_type:
        raise ApplicationError(
            f"{project.app_name} is not a multi-repo project: leave out ?component.",
            field="component",
        )
    return project


def runtime_target(*, project: Project, component: str | None = None) -> RuntimeTarget:
    """What runs for `project` now, with the values to mask in its output.

    Raises `NoRunningContainer` if nothing runs, `ApplicationError` for a bad `component`.
    """
    target = runtime_component(project=project, component=component)
    deployment = (
        Deployment.objects.filter(project=target, status=Deployment.Status.RUNNING)
        .select_related("release", "project")
        .order_by("-id")
        .first()
    )
    if deployment is None or not deployment.container_id:
        raise NoRunningContainer(f"{target.app_name} has no running container: deploy it first.")
    values: list[str] = []
    if deployment.release is not None:
        try:
            snapshot = release_env(deployment.release)
        except SnapshotUnreadable as exc:
            # What the container was given cannot be known, so it cannot be masked.
            raise ApplicationError(
                f"The output of {target.app_name} cannot be shown: {exc}", status_code=503
            ) from None
        values += [*snapshot.env.values(), *snapshot.build_args.values()]
    current = envvars_for_deploy(project=target)
    values += [*current.runtime.values(), *current.build_args.values()]
    return RuntimeTarget(
        project=target,
        deployment=deployment,
        container_id=deployment.container_id,
        masker=Masker(values),
    )


def parse_since(value: str | None) -> datetime | None:
    """`?since=`: seconds ago (`300`), or an ISO 8601 time (UTC when it names no zone)."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        if seconds < 0:
            raise ApplicationError("since must be 0 or more seconds.", field="since")
        return timezone.now() - timedelta(seconds=seconds)
    try:
        when = parse_datetime(value)
    except ValueError:  # well formed, but no such time (month 13)
        when = None
    if when is None:
        raise ApplicationError(
            "since must be a number of seconds or an ISO 8601 time (2026-01-31T12:00:00Z).",
            field="since",
        )
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_tail(value: str | None) -> int:
    if value in (None, ""):
        return DEFAULT_TAIL
    try:
        tail = int(value)
    except ValueError:
        raise ApplicationError(
            f"tail must be a whole number from 0 to {MAX_TAIL}.", field="tail"
        ) from None
    if not 0 <= tail <= MAX_TAIL:
        raise ApplicationError(f"tail must be a whole number from 0 to {MAX_TAIL}.", field="tail")
    return tail


class StreamLines:
    """Joins one container's chunks into lines per stream and masks each whole line."""

    def __init__(self, masker: Masker) -> None:
        self._masker = masker
        self._joiners = {"stdout": LineJoiner(), "stderr": LineJoiner()}
        self._times: dict[str, datetime | None] = {}

    def feed(self, chunk: LogChunk) -> list[tuple[datetime | None, str, str]]:
        joiner = self._joiners.setdefault(chunk.stream, LineJoiner())
        if not joiner.pending:
            self._times[chunk.stream] = chunk.time  # a line's time is its first piece's
        lines = joiner.feed(chunk.text)
        out = []
        for line in lines:
            out.append((self._times.get(chunk.stream), chunk.stream, line))
            self._times[chunk.stream] = chunk.time
        return out

    def finish(self) -> list[tuple[datetime | None, str, str]]:
        out = []
        for stream, joiner in self._joiners.items():
            out += [(self._times.get(stream), stream, line) for line in joiner.finish()]
        return out

    def drop_partial(self) -> None:
        """Forget unfinished lines (output was lost after them: never show half a value)."""
        for joiner in self._joiners.values():
            joiner.finish()

    def render(self, lines: list[tuple[datetime | None, str, str]]) -> list[dict]:
        return [
            {
                "time": when.isoformat() if when else None,
                "stream": stream,
                "text": self._masker.mask(text),
            }
            for when, stream, text in lines
        ]


def runtime_log_read(
    *, project: Project, component: str | None, tail: int, since: datetime | None
) -> dict:
    """`GET /api/projects/{id}/logs`: the last `tail` lines of the running container's
    output (since `since`), masked."""
    target = runtime_target(project=project, component=component)
    runtime = get_runtime()
    try:
        info = runtime.get_container(target.container_id)
        stream = runtime.follow_logs(target.container_id, tail=tail, since=since, follow=False)
        lines = StreamLines(target.masker)
        found = []
        for chunk in stream:
            found += lines.feed(chunk)
        found += lines.finish()
    except ContainerNotFound:
        raise NoRunningContainer(
            f"{target.project.app_name} has no running container: it was removed. Deploy it again."
        ) from None
    except RuntimeFailure as exc:
        raise ApplicationError(str(exc), status_code=503) from None
    return {
        "project_id": project.id,
        "component": target.component,
        "container_name": info.name,
        "lines": lines.render(found[-tail:] if tail else []),
    }


def end_reason(target: RuntimeTarget) -> str:
    """Why a container's output ended: it stopped, was removed, or was replaced."""
    name = target.project.app_name
    runtime = get_runtime()
    try:
        info = runtime.get_container(target.container_id)
    except ContainerNotFound:
        newer = (
            Deployment.objects.filter(project=target.project, status=Deployment.Status.RUNNING)
            .exclude(container_id=target.container_id)
            .order_by("-id")
            .first()
        )
        if newer is not None:
            return (
                f"The container of {name} was replaced by deployment #{newer.number}: "
                "reconnect to follow the new one."
            )
        if not Project.objects.filter(id=target.project.id).exists():
            return f"{name} was deleted."
        return f"The container of {name} was removed."
    except RuntimeFailure as exc:
        return f"Lost the connection to the Docker Engine: {exc}"
    if info.is_running:
        return f"The output of {name} ended (the engine closed the stream)."
    code = f" (exit code {info.exit_code})" if info.exit_code is not None else ""
    return f"The container of {name} stopped{code}."


class RuntimeFollower(threading.Thread):
    """Reads one container's output for one socket; the socket's task drains it.

    The thread only moves chunks into a bounded buffer (joining, masking and pacing happen on
    the socket's side, for what is sent); past `max_chunks` waiting, new chunks are counted
    as dropped. `stop()` closes the engine stream, which ends the thread.
    """

    def __init__(
        self,
        target: RuntimeTarget,
        *,
        tail: int,
        loop: asyncio.AbstractEventLoop,
        wake: asyncio.Event,
        max_chunks: int,
    ) -> None:
        super().__init__(name=f"follow-{target.container_id[:12]}", daemon=True)
        self.target = target
        self.tail = tail
        self._loop = loop
        self._wake = wake
        self._max = max_chunks
        self._lock = threading.Lock()
        self._buffer: deque[LogChunk] = deque()
        self._dropped = 0
        self._stream: LogFollow | None = None
        self._stopped = threading.Event()
        self.running = False  # the container ran when the follow began
        self.finished = False
        self.error: str | None = None

    def _signal(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is listening
            self._loop.call_soon_threadsafe(self._wake.set)

    def run(self) -> None:
        try:
            runtime = get_runtime()
            info = runtime.get_container(self.target.container_id)
            self.running = info.is_running
            stream = runtime.follow_logs(
                self.target.container_id, tail=self.tail, follow=self.running
            )
            self._stream = stream
            if self._stopped.is_set():
                stream.close()
            for chunk in stream:
                with self._lock:
                    if len(self._buffer) >= self._max:
                        self._dropped += 1
                        continue
                    first = not self._buffer
                    self._buffer.append(chunk)
                if first:
                    self._signal()
        except ContainerNotFound:
            self.running = False
        except RuntimeFailure as exc:
            self.error = str(exc)
        finally:
            self.finished = True
            self._signal()

    def drain(self) -> tuple[list[LogChunk], int]:
        """The chunks read since the last drain, and how many were dropped meanwhile."""
        with self._lock:
            chunks, self._buffer = list(self._buffer), deque()
            dropped, self._dropped = self._dropped, 0
        return chunks, dropped

    def stop(self) -> None:
        self._stopped.set()
        stream = self._stream
        if stream is not None:
            stream.close()

"""`FakeRuntime`: the runtime verbs in memory, for unit tests of pipeline logic.

It keeps the same bookkeeping rules as the real engine (labels, instance isolation, name
clashes, missing images) and lets a test script failures:

    fake = FakeRuntime(missing_images={"python:2.1-slim"}, container_exit_code=1)
    fake.fail_build_with = BuildFailed("boom", log_tail="...")
    fake.logs_text = "Listening on port 3000"

Select it with `settings.BUTLER_RUNTIME = "deployments.runtime.fake.FakeRuntime"` and
`deployments.runtime.reset_runtime()`, or pass an instance where the code accepts one.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from core.cancel import CancelToken

from .base import (
    COMPOSE_PROJECT_LABEL,
    COMPOSE_SERVICE_LABEL,
    INSTANCE_LABEL,
    MANAGED_LABEL,
    BaseImageMissing,
    BuildFailed,
    ComposeFailed,
    ContainerInfo,
    ContainerNotFound,
    ContainerSpec,
    EngineUnavailable,
    ImageInfo,
    LogChunk,
    LogFollow,
    OutputCallback,
    RuntimeFailure,
)

_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)", re.I | re.M)


@dataclass
class _Container:
    info: ContainerInfo
    env: dict[str, str] = field(repr=False)
    spec: ContainerSpec | None = None


class FakeRuntime:
    """In-memory runtime; the constructor's keyword arguments (also plain attributes) script
    failures, and `builds`, `images`, `containers`, `networks` show what was done."""

    def __init__(
        self,
        *,
        engine_down: bool = False,
        present_images: set[str] | None = None,
        missing_images: set[str] | None = None,
        fail_build_with: RuntimeFailure | None = None,
        fail_run_with: RuntimeFailure | None = None,
        fail_compose_with: RuntimeFailure | None = None,
        container_exit_code: int | None = None,
        logs_text: str = "",
        image_ports: dict[str, list[int]] | None = None,
        build_output: list[str] | None = None,
        compose_services: list[str] | None = None,
    ) -> None:
        self.engine_down = engine_down
        # Images `image_exists` reports besides the ones built here (e.g. base images).
        self.present_images: set[str] = set(present_images or ())
        # Base images that are not present; every other FROM image is.
        self.missing_images: set[str] = set(missing_images or ())
        self.fail_build_with = fail_build_with
        self.fail_run_with = fail_run_with
        self.fail_compose_with = fail_compose_with
        # None: containers keep running. An int: they start, then exit with that code.
        self.container_exit_code = container_exit_code
        self.logs_text = logs_text
        # EXPOSEd ports per image tag (what `image_exposed_ports` returns).
        self.image_ports: dict[str, list[int]] = dict(image_ports or {})
        self.build_output = list(build_output or ["Step 1/1 : FROM scratch", "Built."])
        self.compose_services = list(compose_services or ["web"])
        # Called during a build with its cancel token (e.g. to wait until it is cancelled).
        self.build_hook = None
        # What `ensure_isolation` answers: None (the firewall is in place) or why not.
        self.isolation_problem: str | None = None

        self.networks: dict[str, dict[str, str]] = {}
        self.images: dict[str, ImageInfo] = {}  # by tag
        self.containers: dict[str, _Container] = {}  # by id
        self.builds: list[dict] = []  # what build_image was asked to do, in order
        self._ids = itertools.count(1)
        self._ports = itertools.count(49153)

    # ---- plumbing ----

    def _check(self) -> None:
        if self.engine_down:
            raise EngineUnavailable("fake engine is down")

    def _labels(self, labels: dict[str, str] | None) -> dict[str, str]:
        return {
            **(labels or {}),
            MANAGED_LABEL: "true",
            INSTANCE_LABEL: settings.BUTLER_INSTANCE_ID,
        }

    @staticmethod
    def _matches(have: dict[str, str], want: dict[str, str] | None) -> bool:
        want = {**(want or {}), INSTANCE_LABEL: settings.BUTLER_INSTANCE_ID}
        return all(have.get(k) == v for k, v in want.items())

    def _new_id(self) -> str:
        return hashlib.sha256(str(next(self._ids)).encode()).hexdigest()

    def _find(self, name_or_id: str) -> _Container:
        self._check()
        for c in self.containers.values():
            if name_or_id in (c.info.id, c.info.name) or (
                len(name_or_id) >= 12 and c.info.id.startswith(name_or_id)
            ):
                return c
        raise ContainerNotFound(name_or_id)

    def _set(self, c: _Container, **changes) -> ContainerInfo:
        c.info = replace(c.info, **changes)
        return c.info

    # ---- engine, networks ----

    def ping(self) -> dict:
        self._check()
        return {"server_version": "fake", "api_version": "1.41"}

    def ensure_isolation(self) -> str | None:
        self._check()
        return self.isolation_problem

    def ensure_network(self, name: str, labels: dict[str, str] | None = None) -> None:
        self._check()
        self.networks.setdefault(name, self._labels(labels))

    def remove_network(self, name: str) -> bool:
        self._check()
        return self.networks.pop(name, None) is not None

    def list_networks(self, labels: dict[str, str] | None = None) -> list[str]:
        self._check()
        return sorted(n for n, lab in self.networks.items() if self._matches(lab, labels))

    # ---- images ----

    def image_exists(self, ref: str) -> bool:
        self._check()
        return ref in self.images or ref in self.present_images

    def image_id(self, ref: str) -> str:
        self._check()
        if ref not in self.images:
            raise RuntimeFailure(f"Image '{ref}' does not exist. Build it first.")
        return self.images[ref].id

    def image_exposed_ports(self, ref: str) -> list[int]:
        self._check()
        if ref not in self.images:
            raise RuntimeFailure(f"Image '{ref}' does not exist. Build it first.")
        return list(self.image_ports.get(ref, []))

    def list_images(self, labels: dict[str, str] | None = None) -> list[ImageInfo]:
        self._check()
        found = {i.id: i for i in self.images.values() if self._matches(i.labels, labels)}
        return sorted(found.values(), key=lambda i: (i.created, i.id))

    def remove_image(self, ref: str, *, force: bool = True) -> bool:
        self._check()
        tags = [t for t, i in self.images.items() if ref in (t, i.id)]
        for tag in tags:
            del self.images[tag]
        return bool(tags)

    def build_image(
        self,
        *,
        context_dir: Path,
        dockerfile: str,
        tag: str,
        labels: dict[str, str],
        buildargs: dict[str, str] | None,
        on_output: OutputCallback,
        timeout: int,
        cancel: CancelToken | None = None,
        dockerfile_text: str | None = None,
        dockerignore_text: str | None = None,
        network: str | None = None,
        extra_files: dict[str, bytes] | None = None,
    ) -> str:
        self._check()
        self.builds.append(
            {
                "context_dir": Path(context_dir),
                "dockerfile": dockerfile,
                "tag": tag,
                "labels": dict(labels),
                "buildargs": dict(buildargs or {}),
                "dockerfile_text": dockerfile_text,
                "network": network,
                "extra_files": dict(extra_files or {}),
            }
        )
        path = Path(context_dir) / dockerfile
        text = dockerfile_text
        if text is None:
            text = path.read_text(encoding="utf-8") if path.is_file() else ""
        for image in _FROM.findall(text):
            if image in self.missing_images:
                raise BaseImageMissing(image)
        for line in self.build_output:
            on_output(line)
        if self.build_hook is not None:
            self.build_hook(cancel)
        if cancel is not None:
            cancel.raise_if_cancelled()
        if self.fail_build_with is not None:
            raise self.fail_build_with
        if dockerfile_text is None and not path.is_file():
            raise BuildFailed(
                f"The image build failed: Cannot locate specified Dockerfile: {dockerfile}"
            )
        image = ImageInfo(
            id="sha256:" + self._new_id(),
            tags=[tag],
            labels=self._labels(labels),
            created=datetime.now(tz=UTC),
        )
        self.images[tag] = image
        return image.id

    def remove_build_leftovers(self, leftovers) -> int:
        return 0

    # ---- containers ----

    def run_container(self, spec: ContainerSpec) -> ContainerInfo:
        self._check()
        if self.fail_run_with is not None:
            raise self.fail_run_with
        if spec.image not in self.images:
            raise RuntimeFailure(
                f"Image '{spec.image}' does not exist. Build it before running it."
            )
        if any(c.info.name == spec.name for c in self.containers.values()):
            raise RuntimeFailure(f"A container named '{spec.name}' already exists.")
        exited = self.container_exit_code is not None
        info = ContainerInfo(
            id=self._new_id(),
            name=spec.name,
            status="exited" if exited else "running",
            exit_code=self.container_exit_code,
            host_port=None if exited else next(self._ports),
            container_port=spec.container_port,
            labels=self._labels(spec.labels),
            image=spec.image,
            ip=None if exited else "172.30.0.2",
        )
        self.containers[info.id] = _Container(info=info, env=dict(spec.env), spec=spec)
        return info

    def get_container(self, name_or_id: str) -> ContainerInfo:
        return self._find(name_or_id).info

    def container_logs(self, name_or_id: str, *, tail: int = 50) -> str:
        self._find(name_or_id)
        lines = self.logs_text.splitlines(keepends=True)
        return "".join(lines[-tail:]) if tail else ""

    def stop_container(self, name_or_id: str, *, timeout: int = 10) -> ContainerInfo:
        c = self._find(name_or_id)
        return self._set(c, status="exited", exit_code=0, host_port=None, ip=None)

    def start_container(self, name_or_id: str) -> ContainerInfo:
        c = self._find(name_or_id)
        if c.info.status == "running":
            return c.info
        return self._set(c, status="running", exit_code=None, host_port=next(self._ports))

    def restart_container(self, name_or_id: str, *, timeout: int = 10) -> ContainerInfo:
        self.stop_container(name_or_id, timeout=timeout)
        return self.start_container(name_or_id)

    def remove_container(self, name_or_id: str) -> bool:
        try:
            c = self._find(name_or_id)
        except ContainerNotFound:
            return False
        del self.containers[c.info.id]
        return True

    def list_containers(self, labels: dict[str, str] | None = None) -> list[ContainerInfo]:
        self._check()
        found = [c.info for c in self.containers.values() if self._matches(c.info.labels, labels)]
        return sorted(found, key=lambda i: i.name)

    def container_env(self, name_or_id: str) -> dict[str, str]:
        """Test helper: the environment a container was given."""
        return dict(self._find(name_or_id).env)

    # ---- compose ----

    def compose_available(self) -> str | None:
        return "docker compose"

    def compose_up(
        self,
        *,
        project_name: str,
        workdir: Path,
        compose_file: str,
        env: dict[str, str],
        on_output: OutputCallback,
        timeout: int,
        cancel: CancelToken | None = None,
        build_network: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> list[ContainerInfo]:
        self._check()
        if not (Path(workdir) / compose_file).is_file():
            raise ComposeFailed(f"The compose file '{compose_file}' does not exist.")
        if self.fail_compose_with is not None:
            raise self.fail_compose_with
        for service in self.compose_services:
            name = f"{project_name}-{service}-1"
            on_output(f"Creating {name} ... done")
            if any(c.info.name == name for c in self.containers.values()):
                continue
            info = ContainerInfo(
                id=self._new_id(),
                name=name,
                status="running",
                exit_code=None,
                host_port=next(self._ports),
                container_port=8000,
                labels=self._labels(
                    {COMPOSE_PROJECT_LABEL: project_name, COMPOSE_SERVICE_LABEL: service}
                ),
                image=f"{project_name}-{service}",
                ip="172.30.0.3",
            )
            self.containers[info.id] = _Container(info=info, env=dict(env))
        return self.compose_containers(project_name)

    def compose_down(self, *, project_name: str) -> None:
        self._check()
        for cid, c in list(self.containers.items()):
            if c.info.labels.get(COMPOSE_PROJECT_LABEL) == project_name:
                del self.containers[cid]

    def compose_containers(self, project_name: str) -> list[ContainerInfo]:
        return self.list_containers({COMPOSE_PROJECT_LABEL: project_name})

    # ---- sockets ----

    def listening_sockets(self, name_or_id: str) -> list[tuple[str, int]] | None:
        """Tests script the container's listening sockets with `fake.listening = [...]`;
        unset, the fake cannot tell (None), like an image without `cat`."""
        self._find(name_or_id)
        listening = getattr(self, "listening", None)
        return None if listening is None else list(listening)

    # ---- a running container's own output ----

    def _log_state(self) -> tuple[threading.Condition, dict[str, list[LogChunk]]]:
        if not hasattr(self, "_log_cond"):
            self._log_cond = threading.Condition()
            self._outputs: dict[str, list[LogChunk]] = {}
            self.follows: list[_FakeLogFollow] = []  # every follow_logs stream, to check closes
        return self._log_cond, self._outputs

    def emit(self, name_or_id: str, text: str, *, stream: str = "stdout") -> None:
        """Test helper: the container prints `text`, delivered as one read (it may hold part
        of a line, or several)."""
        info = self._find(name_or_id).info
        cond, outputs = self._log_state()
        with cond:
            chunk = LogChunk(time=datetime.now(tz=UTC), stream=stream, text=text)
            outputs.setdefault(info.id, []).append(chunk)
            cond.notify_all()

    def follow_logs(
        self,
        name_or_id: str,
        *,
        tail: int = 200,
        since: datetime | None = None,
        follow: bool = True,
    ) -> LogFollow:
        info = self._find(name_or_id).info
        cond, outputs = self._log_state()
        with cond:
            history = outputs.setdefault(info.id, [])
            if not history and self.logs_text:
                history.extend(
                    LogChunk(time=datetime.now(tz=UTC), stream="stdout", text=line)
                    for line in self.logs_text.splitlines(keepends=True)
                )
            start = len(history) if tail == 0 else max(0, len(history) - (tail or len(history)))
            if since is not None:
                start = next(
                    (i for i, c in enumerate(history) if i >= start and c.time and c.time >= since),
                    len(history),
                )
        stream = _FakeLogFollow(self, info.id, start=start, follow=follow)
        self.follows.append(stream)
        return stream


class _FakeLogFollow:
    """Yields a fake container's chunks, then (with `follow`) new ones until it stops, is
    removed or `close()` is called."""

    WAIT = 0.02

    def __init__(self, fake: FakeRuntime, container_id: str, *, start: int, follow: bool):
        self._fake = fake
        self._id = container_id
        self._next = start
        self._follow = follow
        self.closed = False

    def close(self) -> None:
        cond, _ = self._fake._log_state()
        with cond:
            self.closed = True
            cond.notify_all()

    def __iter__(self) -> Iterator[LogChunk]:
        cond, outputs = self._fake._log_state()
        try:
            while True:
                with cond:
                    if self.closed:
                        return
                    chunks = outputs.get(self._id, [])
                    if self._next < len(chunks):
                        chunk = chunks[self._next]
                        self._next += 1
                    else:
                        container = self._fake.containers.get(self._id)
                        if not self._follow or container is None or not container.info.is_running:
                            return
                        cond.wait(self.WAIT)
                        continue
                yield chunk
        finally:
            self.closed = True

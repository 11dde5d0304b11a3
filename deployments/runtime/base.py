"""The runtime seam: Butler's own errors, value types and the verbs every backend offers.

Nothing here imports `docker`. Callers (the pipeline, services, management commands) catch
`RuntimeFailure` and its subclasses; messages say what happened and what to do, and never
contain environment variable values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from core.cancel import CancelToken

MANAGED_LABEL = "butler.managed"
# What every container Butler runs gets, a compose service as much as a single container:
# all capabilities dropped but the few an ordinary web server needs (nginx's master chowns
# its cache dirs and switches to an unprivileged worker user; some images bind ports below
# 1024), no new privileges, a cap on processes.
CAP_ADD = ["CHOWN", "SETUID", "SETGID", "NET_BIND_SERVICE", "DAC_OVERRIDE", "FOWNER"]
SECURITY_OPT = ["no-new-privileges:true"]
PIDS_LIMIT = 1024
# Linux bridge names of Butler's networks start with this, so one firewall rule covers all.
BRIDGE_PREFIX = "butler"
INSTANCE_LABEL = "butler.instance"
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"

OutputCallback = Callable[[str], None]


class RuntimeFailure(Exception):
    """Something went wrong talking to the container engine."""


class EngineUnavailable(RuntimeFailure):
    """The engine cannot be reached at all (not running, wrong DOCKER_HOST, no permission)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"The Docker Engine is not reachable ({reason}). Start Docker and try again."
        )


class BaseImageMissing(RuntimeFailure):
    """A FROM image is not present locally and could not be pulled."""

    def __init__(self, image: str, detail: str = "") -> None:
        self.image = image
        self.detail = detail
        hint = f" ({detail})" if detail else ""
        super().__init__(
            f"The base image '{image}' is not available on this Docker Engine and could not "
            f"be pulled{hint}. Pull or build it on the Docker host (docker pull {image}), or "
            "point the base image setting (BUTLER_PYTHON_IMAGE, BUTLER_NODE_IMAGE, "
            "BUTLER_NGINX_IMAGE) or the Dockerfile's FROM line at an image that exists."
        )


class BuildFailed(RuntimeFailure):
    """`docker build` failed; `log_tail` holds the last lines of its output."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        self.log_tail = log_tail
        super().__init__(message)


class ContainerNotFound(RuntimeFailure):
    """No container of this Butler instance has that name or id."""

    def __init__(self, name_or_id: str) -> None:
        self.name_or_id = name_or_id
        super().__init__(
            f"Container '{name_or_id}' does not exist (it may have been removed). "
            "Redeploy the project to create a new one."
        )


class ComposeFailed(RuntimeFailure):
    """`docker compose` failed; `output_tail` holds the last lines of its output."""

    def __init__(self, message: str, output_tail: str = "") -> None:
        self.output_tail = output_tail
        super().__init__(message)


@dataclass(frozen=True)
class ContainerSpec:
    """What to run. `env` reaches the container only; it is never logged."""

    name: str
    image: str
    env: dict[str, str] = field(repr=False)
    labels: dict[str, str]
    container_port: int
    network: str
    memory: str
    cpus: float
    command: list[str] | None = None
    aliases: tuple[str, ...] = ()  # names it answers to on its network


def log_options() -> dict[str, str]:
    """json-file options that cap a container's own log on the host's disk."""
    from django.conf import settings

    return {
        "max-size": settings.BUTLER_CONTAINER_LOG_MAX_SIZE,
        "max-file": str(settings.BUTLER_CONTAINER_LOG_MAX_FILES),
    }


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    status: str  # created | running | restarting | exited | paused | dead | removing
    exit_code: int | None  # set once the container has stopped
    host_port: int | None
    container_port: int | None
    labels: dict[str, str]
    image: str
    ip: str | None

    @property
    def is_running(self) -> bool:
        return self.status == "running"


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: list[str]
    labels: dict[str, str]
    created: datetime


@dataclass(frozen=True)
class LogChunk:
    """A piece of a container's own output, as the engine delivered it.

    `text` is usually one line with its line break; a long line (or output from a TTY) can
    come in parts, so a reader joins the pieces of each stream before it looks for values
    to mask (`core.masking.LineJoiner`).
    """

    time: datetime | None
    stream: str  # "stdout" | "stderr"
    text: str


class LogFollow(Protocol):
    """What `follow_logs` returns: iterate it for chunks; `close()` (from any thread) stops
    it and releases the engine connection; iteration then ends."""

    def __iter__(self) -> Iterator[LogChunk]: ...
    def close(self) -> None: ...


@runtime_checkable
class Runtime(Protocol):
    """The verbs the pipeline uses. `DockerRuntime` and `FakeRuntime` implement them.

    Every object a runtime creates carries `butler.managed=true` and
    `butler.instance=<settings.BUTLER_INSTANCE_ID>`; `list_*` and `remove_*` only ever see
    objects of this instance.
    """

    def ping(self) -> dict: ...
    def ensure_isolation(self) -> str | None: ...

    # networks
    def ensure_network(self, name: str, labels: dict[str, str] | None = None) -> None: ...
    def remove_network(self, name: str) -> bool: ...
    def list_networks(self, labels: dict[str, str] | None = None) -> list[str]: ...

    # images
    def image_exists(self, ref: str) -> bool: ...
    def image_id(self, ref: str) -> str: ...
    def image_exposed_ports(self, ref: str) -> list[int]: ...
    def list_images(self, labels: dict[str, str] | None = None) -> list[ImageInfo]: ...
    def remove_image(self, ref: str, *, force: bool = True) -> bool: ...
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
    ) -> str: ...
    def remove_build_leftovers(self, leftovers) -> int: ...

    # containers
    def run_container(self, spec: ContainerSpec) -> ContainerInfo: ...
    def get_container(self, name_or_id: str) -> ContainerInfo: ...
    def container_logs(self, name_or_id: str, *, tail: int = 50) -> str: ...
    def stop_container(self, name_or_id: str, *, timeout: int = 10) -> ContainerInfo: ...
    def start_container(self, name_or_id: str) -> ContainerInfo: ...
    def restart_container(self, name_or_id: str, *, timeout: int = 10) -> ContainerInfo: ...
    def remove_container(self, name_or_id: str) -> bool: ...
    def list_containers(self, labels: dict[str, str] | None = None) -> list[ContainerInfo]: ...

    # compose
    def compose_available(self) -> str | None: ...
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
    ) -> list[ContainerInfo]: ...
    def compose_down(self, *, project_name: str) -> None: ...
    def compose_containers(self, project_name: str) -> list[ContainerInfo]: ...

    # sockets
    def listening_sockets(self, name_or_id: str) -> list[tuple[str, int]] | None:
        """(address, port) of the TCP sockets listening inside the container, such as
        ("127.0.0.1", 3000) or ("::", 8000); None when the runtime cannot tell."""
        ...

    # a running container's own output
    def follow_logs(
        self,
        name_or_id: str,
        *,
        tail: int = 200,
        since: datetime | None = None,
        follow: bool = True,
    ) -> LogFollow: ...


def tail_lines(lines: list[str] | tuple[str, ...], n: int = 30) -> str:
    return "\n".join(list(lines)[-n:])


def redact(text: str, secrets: list[str]) -> str:
    """Mask secret values in engine or compose output before it is shown or stored."""
    for value in secrets:
        if value:
            text = text.replace(value, "****")
    return text


def secret_values(env: dict[str, str] | None, *, min_length: int = 5) -> list[str]:
    """Values worth masking: short ones ('1', 'true') would mask ordinary words."""
    values = {v for v in (env or {}).values() if isinstance(v, str) and len(v) >= min_length}
    return sorted(values, key=len, reverse=True)

"""`DockerRuntime`: the runtime verbs on a real Docker Engine (docker SDK + compose CLI).

This package is the only code in Butler that imports `docker`. Every docker/requests exception
is translated into the `RuntimeFailure` hierarchy of `base.py`; an engine that cannot be reached
is `EngineUnavailable`. Every object created here is labelled with `butler.managed=true` and
`butler.instance=<settings.BUTLER_INSTANCE_ID>`, and only objects carrying this instance's
label are listed, inspected or removed.

The image build (`BuildMixin`) lives in `docker_build`, the compose verbs (`ComposeMixin`) in
`docker_compose`, the error translation in `docker_errors`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types
import requests
from django.conf import settings

from .base import (
    BRIDGE_PREFIX,
    CAP_ADD,
    INSTANCE_LABEL,
    MANAGED_LABEL,
    PIDS_LIMIT,
    SECURITY_OPT,
    ContainerInfo,
    ContainerNotFound,
    ContainerSpec,
    EngineUnavailable,
    ImageInfo,
    LogFollow,
    RuntimeFailure,
    log_options,
)
from .docker_build import BuildMixin
from .docker_compose import ComposeMixin
from .docker_errors import _engine_errors, _short
from .docker_logs import open_follow
from .firewall import ensure_firewall

logger = logging.getLogger(__name__)

PING_TIMEOUT = 5  # seconds; "is the engine there?" must answer fast
API_TIMEOUT = 120  # seconds; ordinary calls (stop waits for the app's own stop timeout)
PORT_ATTEMPTS = 5


class DockerRuntime(BuildMixin, ComposeMixin):
    """The real backend. Cheap to construct; connects on first use."""

    def __init__(self, *, base_url: str | None = None) -> None:
        self._base_url = base_url
        self._lock = threading.Lock()
        self._client: docker.DockerClient | None = None
        self._client_kwargs: dict[str, Any] = {}
        self._pid = 0
        self._compose_cmd: list[str] | None = None
        self._compose_checked = False

    # ---- plumbing ----

    @property
    def instance_id(self) -> str:
        return settings.BUTLER_INSTANCE_ID

    def _connect(self) -> docker.DockerClient:
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                params: dict[str, Any] = (
                    {"base_url": self._base_url}
                    if self._base_url
                    else docker.utils.kwargs_from_env()
                )
                try:
                    # A short timeout for the version handshake: a dead engine fails fast.
                    probe = docker.APIClient(version="auto", timeout=PING_TIMEOUT, **params)
                    version = probe.api_version
                    probe.close()
                except (docker.errors.DockerException, requests.RequestException) as exc:
                    raise EngineUnavailable(_short(exc)) from exc
                self._client_kwargs = {**params, "version": version}
                self._client = docker.DockerClient(timeout=API_TIMEOUT, **self._client_kwargs)
                self._pid = os.getpid()
            return self._client

    def _api(self) -> docker.APIClient:
        return self._connect().api

    def _labels(self, labels: dict[str, str] | None) -> dict[str, str]:
        return {**(labels or {}), MANAGED_LABEL: "true", INSTANCE_LABEL: self.instance_id}

    def _label_filter(self, labels: dict[str, str] | None) -> list[str]:
        return [f"{k}={v}" for k, v in (labels or {}).items()] + [
            f"{INSTANCE_LABEL}={self.instance_id}"
        ]

    def _is_ours(self, labels: dict[str, str] | None) -> bool:
        return (labels or {}).get(INSTANCE_LABEL) == self.instance_id

    # ---- engine ----

    def ping(self) -> dict:
        """Server and API version; raises `EngineUnavailable` within a few seconds if down."""
        self._connect()
        probe = docker.APIClient(timeout=PING_TIMEOUT, **self._client_kwargs)
        try:
            info = probe.version()
        except (requests.RequestException, docker.errors.DockerException) as exc:
            raise EngineUnavailable(_short(exc)) from exc
        finally:
            probe.close()
        return {
            "server_version": info.get("Version", ""),
            "api_version": info.get("ApiVersion", ""),
            "client_api_version": self._client_kwargs["version"],
            "os": info.get("Os", ""),
            "arch": info.get("Arch", ""),
        }

    def ensure_isolation(self) -> str | None:
        """The host firewall for Butler's networks (`firewall.py`); None when it is in place,
        else why it is not."""
        return ensure_firewall(docker_host=self._base_url)

    # ---- networks ----

    def _networks_named(self, name: str) -> list[dict]:
        # The engine's name filter matches substrings; keep exact matches only.
        return [n for n in self._api().networks(names=[name]) if n.get("Name") == name]

    def ensure_network(self, name: str, labels: dict[str, str] | None = None) -> None:
        """Create the bridge network `name` unless it exists. Safe to call concurrently.

        Its Linux bridge is named `butler<hash>`, so the firewall rules that keep containers
        away from this host cover every Butler network at once.
        """
        api = self._api()
        with _engine_errors(f"create network {name}"), _network_lock():
            if self._networks_named(name):
                return
            try:
                created = api.create_network(
                    name,
                    driver="bridge",
                    labels=self._labels(labels),
                    check_duplicate=True,
                    options={"com.docker.network.bridge.name": bridge_name(name)},
                )
            except docker.errors.APIError as exc:
                if exc.status_code == 409 or "already exists" in str(exc):
                    return
                raise
            # CheckDuplicate is best effort: two racing creates can both succeed. Everyone
            # keeps the oldest network of that name; a loser removes its own duplicate.
            same = sorted(self._networks_named(name), key=lambda n: (n["Created"], n["Id"]))
            if len(same) > 1 and same[0]["Id"] != created["Id"]:
                with contextlib.suppress(docker.errors.APIError):
                    api.remove_network(created["Id"])

    def remove_network(self, name: str) -> bool:
        """Remove this instance's network `name`; False if there is none."""
        api = self._api()
        removed = False
        with _engine_errors(f"remove network {name}"):
            for net in self._networks_named(name):
                if not self._is_ours(net.get("Labels")):
                    continue
                try:
                    api.remove_network(net["Id"])
                    removed = True
                except docker.errors.NotFound:
                    pass
        return removed

    def list_networks(self, labels: dict[str, str] | None = None) -> list[str]:
        with _engine_errors("list networks"):
            nets = self._api().networks(filters={"label": self._label_filter(labels)})
        return sorted(n["Name"] for n in nets)

    # ---- images ----

    def image_exists(self, ref: str) -> bool:
        """Whether `ref` is present locally (any image, e.g. a base image)."""
        with _engine_errors(f"inspect image {ref}"):
            try:
                self._api().inspect_image(ref)
            except docker.errors.ImageNotFound:
                return False
        return True

    def image_id(self, ref: str) -> str:
        """The id (`sha256:…`) of a local image; `RuntimeFailure` if there is none."""
        with _engine_errors(f"inspect image {ref}"):
            try:
                return self._api().inspect_image(ref)["Id"]
            except docker.errors.ImageNotFound as exc:
                raise RuntimeFailure(f"Image '{ref}' does not exist. Build it first.") from exc

    def image_exposed_ports(self, ref: str) -> list[int]:
        """TCP ports the image EXPOSEs, from its config (not from a running container)."""
        with _engine_errors(f"inspect image {ref}"):
            try:
                attrs = self._api().inspect_image(ref)
            except docker.errors.ImageNotFound as exc:
                raise RuntimeFailure(f"Image '{ref}' does not exist. Build it first.") from exc
        exposed = (attrs.get("Config") or {}).get("ExposedPorts") or {}
        ports = set()
        for key in exposed:
            number, _, proto = key.partition("/")
            if (proto or "tcp") == "tcp" and number.isdigit():
                ports.add(int(number))
        return sorted(ports)

    def list_images(self, labels: dict[str, str] | None = None) -> list[ImageInfo]:
        with _engine_errors("list images"):
            rows = self._api().images(filters={"label": self._label_filter(labels)})
        return sorted(
            (
                ImageInfo(
                    id=row["Id"],
                    tags=[t for t in row.get("RepoTags") or [] if t != "<none>:<none>"],
                    labels=row.get("Labels") or {},
                    created=datetime.fromtimestamp(row.get("Created", 0), tz=UTC),
                )
                for row in rows
            ),
            key=lambda i: (i.created, i.id),
        )

    def remove_image(self, ref: str, *, force: bool = True) -> bool:
        """Remove (or untag) this instance's image; False if missing or not Butler's.

        Raises `RuntimeFailure` if the engine refuses, e.g. a running container uses it.
        """
        api = self._api()
        with _engine_errors(f"remove image {ref}"):
            try:
                attrs = api.inspect_image(ref)
                if not self._is_ours((attrs.get("Config") or {}).get("Labels")):
                    return False
                api.remove_image(ref, force=force)
            except docker.errors.ImageNotFound:
                return False
        return True

    # ---- containers ----

    def run_container(self, spec: ContainerSpec) -> ContainerInfo:
        """Create and start a hardened container, published on a free host port.

        The host port is chosen here and bound explicitly (an engine-chosen port changes at
        every restart, which would break the app's URL). If another process takes it first,
        the engine refuses the start and the next free port is tried.
        """
        for attempt in range(PORT_ATTEMPTS):
            container = self._create(spec, host_port=_free_port())
            try:
                with _engine_errors(f"start container {spec.name}"):
                    try:
                        container.start()
                    except docker.errors.APIError as exc:
                        if _port_taken(exc) and attempt + 1 < PORT_ATTEMPTS:
                            self._force_remove(container.id)
                            continue
                        raise
                return self.get_container(container.id)
            except BaseException:
                self._force_remove(container.id)
                raise
        raise RuntimeFailure("No free host port could be published.")  # pragma: no cover

    def _create(self, spec: ContainerSpec, *, host_port: int):
        client = self._connect()
        port_key = f"{spec.container_port}/tcp"
        with _engine_errors(f"create container {spec.name}"):
            try:
                container = client.containers.create(
                    image=spec.image,
                    command=spec.command,
                    name=spec.name,
                    environment=dict(spec.env),
                    labels=self._labels(spec.labels),
                    detach=True,
                    network=spec.network,
                    ports={port_key: (settings.BUTLER_PUBLISH_IP, host_port)},
                    restart_policy={"Name": "unless-stopped"},
                    mem_limit=spec.memory,
                    nano_cpus=int(spec.cpus * 1_000_000_000),
                    privileged=False,
                    cap_drop=["ALL"],
                    cap_add=CAP_ADD,
                    security_opt=SECURITY_OPT,
                    pids_limit=PIDS_LIMIT,
                    log_config=docker.types.LogConfig(type="json-file", config=log_options()),
                )
                if spec.aliases:
                    # Reconnect with aliases: a sibling component reaches it by name.
                    api = client.api
                    api.disconnect_container_from_network(container.id, spec.network)
                    api.connect_container_to_network(
                        container.id, spec.network, aliases=list(spec.aliases)
                    )
                return container
            except docker.errors.ImageNotFound as exc:
                raise RuntimeFailure(
                    f"Image '{spec.image}' does not exist. Build it before running it."
                ) from exc
            except docker.errors.APIError as exc:
                if exc.status_code == 409:
                    raise RuntimeFailure(
                        f"A container named '{spec.name}' already exists. Remove it or "
                        "choose another name."
                    ) from exc
                raise

    def _force_remove(self, container_id: str) -> None:
        with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
            self._api().remove_container(container_id, force=True, v=True)

    def _inspect_ours(self, name_or_id: str) -> dict:
        with _engine_errors(f"inspect container {name_or_id}"):
            try:
                attrs = self._api().inspect_container(name_or_id)
            except docker.errors.NotFound as exc:
                raise ContainerNotFound(name_or_id) from exc
        if not self._is_ours((attrs.get("Config") or {}).get("Labels")):
            raise ContainerNotFound(name_or_id)
        return attrs

    def get_container(self, name_or_id: str) -> ContainerInfo:
        return _container_info(self._inspect_ours(name_or_id))

    def container_logs(self, name_or_id: str, *, tail: int = 50) -> str:
        """The last `tail` lines of stdout+stderr, as text."""
        attrs = self._inspect_ours(name_or_id)
        with _engine_errors(f"read the logs of {name_or_id}"):
            try:
                raw = self._api().logs(attrs["Id"], stdout=True, stderr=True, tail=tail)
            except docker.errors.NotFound as exc:
                raise ContainerNotFound(name_or_id) from exc
        return raw.decode("utf-8", errors="replace")

    def _lifecycle(self, verb: str, name_or_id: str, **kwargs: Any) -> ContainerInfo:
        attrs = self._inspect_ours(name_or_id)
        with _engine_errors(f"{verb} container {name_or_id}"):
            try:
                getattr(self._api(), verb)(attrs["Id"], **kwargs)
            except docker.errors.NotFound as exc:
                raise ContainerNotFound(name_or_id) from exc
        return self.get_container(attrs["Id"])

    def stop_container(self, name_or_id: str, *, timeout: int = 10) -> ContainerInfo:
        return self._lifecycle("stop", name_or_id, timeout=timeout)

    def start_container(self, name_or_id: str) -> ContainerInfo:
        return self._lifecycle("start", name_or_id)

    def restart_container(self, name_or_id: str, *, timeout: int = 10) -> ContainerInfo:
        return self._lifecycle("restart", name_or_id, timeout=timeout)

    def remove_container(self, name_or_id: str) -> bool:
        """Force-remove this instance's container; False if it does not exist."""
        try:
            attrs = self._inspect_ours(name_or_id)
        except ContainerNotFound:
            return False
        with _engine_errors(f"remove container {name_or_id}"):
            try:
                self._api().remove_container(attrs["Id"], force=True, v=True)
            except docker.errors.NotFound:
                return False
            except docker.errors.APIError as exc:
                if exc.status_code == 409 and "already in progress" in str(exc):
                    return True
                raise
        return True

    def list_containers(self, labels: dict[str, str] | None = None) -> list[ContainerInfo]:
        """This instance's containers (any state) carrying all of `labels`."""
        return self._list_by_filter(self._label_filter(labels))

    def _list_by_filter(self, label_filter: list[str]) -> list[ContainerInfo]:
        api = self._api()
        infos = []
        with _engine_errors("list containers"):
            for row in api.containers(all=True, filters={"label": label_filter}):
                try:
                    infos.append(_container_info(api.inspect_container(row["Id"])))
                except docker.errors.NotFound:
                    continue  # removed while we were listing
        return sorted(infos, key=lambda c: c.name)

    # ---- sockets ----

    def listening_sockets(self, name_or_id: str) -> list[tuple[str, int]] | None:
        """(address, port) of the TCP sockets listening in the container's network namespace,
        read from /proc/net/tcp{,6} inside it; None when that cannot be read (no `cat` in
        the image, the container not running)."""
        attrs = self._inspect_ours(name_or_id)
        try:
            result = (
                self._connect()
                .containers.get(attrs["Id"])
                .exec_run(["cat", "/proc/net/tcp", "/proc/net/tcp6"], stdout=True, stderr=False)
            )
        except (docker.errors.DockerException, requests.RequestException):
            return None
        text = (result.output or b"").decode("ascii", errors="replace")
        if "local_address" not in text:
            return None
        return self.parse_proc_net_tcp(text)

    @staticmethod
    def parse_proc_net_tcp(text: str) -> list[tuple[str, int]]:
        """LISTEN sockets of /proc/net/tcp and tcp6 text: ("127.0.0.1", 3000), ("::", 80)."""
        found: list[tuple[str, int]] = []
        for line in text.splitlines():
            fields = line.split()
            if len(fields) < 4 or fields[3] != "0A" or ":" not in fields[1]:
                continue
            address_hex, _, port_hex = fields[1].partition(":")
            try:
                raw = bytes.fromhex(address_hex)
                port = int(port_hex, 16)
            except ValueError:
                continue
            # The kernel prints each 32-bit word in host (little-endian) order.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            if len(words) == 4:
                address = socket.inet_ntop(socket.AF_INET, words)
            elif len(words) == 16:
                address = socket.inet_ntop(socket.AF_INET6, words)
            else:
                continue
            if (address, port) not in found:
                found.append((address, port))
        return found

    # ---- a running container's own output ----

    def follow_logs(
        self,
        name_or_id: str,
        *,
        tail: int = 200,
        since: datetime | None = None,
        follow: bool = True,
    ) -> LogFollow:
        """The container's stdout and stderr from its last `tail` lines (or from `since`),
        then, with `follow`, what it prints next until it stops or `close()` is called."""
        attrs = self._inspect_ours(name_or_id)
        tty = bool((attrs.get("Config") or {}).get("Tty"))
        try:
            return open_follow(
                self._client_kwargs, attrs["Id"], tty=tty, tail=tail, since=since, follow=follow
            )
        except RuntimeFailure as exc:
            if isinstance(exc.__cause__, docker.errors.NotFound):
                raise ContainerNotFound(name_or_id) from exc
            raise


def _container_info(attrs: dict) -> ContainerInfo:
    config = attrs.get("Config") or {}
    state = attrs.get("State") or {}
    net = attrs.get("NetworkSettings") or {}
    status = state.get("Status") or "unknown"
    host_port = container_port = None
    ports = net.get("Ports") or {}
    bindings = (attrs.get("HostConfig") or {}).get("PortBindings") or {}
    for key in sorted(set(ports) | set(bindings)):
        number, _, proto = key.partition("/")
        if proto != "tcp" or not number.isdigit():
            continue
        published = [b for b in ports.get(key) or [] if b.get("HostPort")]
        if published or container_port is None:
            container_port = int(number)
        if published:
            host_port = int(published[0]["HostPort"])
            break
    ip = next(
        (n.get("IPAddress") for n in (net.get("Networks") or {}).values() if n.get("IPAddress")),
        None,
    )
    return ContainerInfo(
        id=attrs["Id"],
        name=(attrs.get("Name") or "").lstrip("/"),
        status=status,
        exit_code=state.get("ExitCode") if status in {"exited", "dead", "restarting"} else None,
        host_port=host_port,
        container_port=container_port,
        labels=config.get("Labels") or {},
        image=config.get("Image") or attrs.get("Image", ""),
        ip=ip,
    )


def bridge_name(network: str) -> str:
    """The Linux bridge of a Butler network: `butler` + 8 hex (interface names are short)."""
    return f"{BRIDGE_PREFIX}{hashlib.sha256(network.encode()).hexdigest()[:8]}"


def _free_port() -> int:
    """A port nothing on this host listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def _port_taken(exc: docker.errors.APIError) -> bool:
    text = str(exc).lower()
    return "port is already allocated" in text or "address already in use" in text


_thread_lock = threading.Lock()


@contextlib.contextmanager
def _network_lock():
    """Serialize network creation between threads and between Butler's processes on this
    host (the engine's duplicate check is best effort and lets racing creates through)."""
    path = Path(settings.DATA_DIR) / "network.lock"
    with _thread_lock, open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

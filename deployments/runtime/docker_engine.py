"""`DockerRuntime`: the runtime verbs on a real Docker Engine (docker SDK + compose CLI).

This is the only module in Butler that imports `docker`. Every docker/requests exception is
translated into the `RuntimeFailure` hierarchy of `base.py`; an engine that cannot be reached
is `EngineUnavailable`. Every object created here is labelled with `butler.managed=true` and
`butler.instance=<settings.BUTLER_INSTANCE_ID>`, and only objects carrying this instance's
label are listed, inspected or removed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests
import urllib3.exceptions
import yaml
from django.conf import settings

from .base import (
    COMPOSE_PROJECT_LABEL,
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
    OutputCallback,
    RuntimeFailure,
    redact,
    secret_values,
    tail_lines,
)

logger = logging.getLogger(__name__)

PING_TIMEOUT = 5  # seconds; "is the engine there?" must answer fast
API_TIMEOUT = 120  # seconds; ordinary calls (stop waits for the app's own stop timeout)
TAIL_LINES = 30
PORT_ATTEMPTS = 5
PIDS_LIMIT = 1024
# What ordinary web servers need once everything else is dropped: nginx's master chowns its
# cache dirs and switches to an unprivileged worker user; some images bind ports below 1024.
CAP_ADD = ["CHOWN", "SETUID", "SETGID", "NET_BIND_SERVICE", "DAC_OVERRIDE", "FOWNER"]
COMPOSE_IMAGE_LABEL = "butler.compose.project"

_STEP = re.compile(r"^Step \d+/\d+ : (\S+)\s*(.*)$")
_RUNNING_IN = re.compile(r"---> Running in ([0-9a-f]{12,64})")
_LAYER = re.compile(r"^\s*---> ([0-9a-f]{12,64})\s*$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_VAR = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)")
_MISSING_IMAGE_PATTERNS = [
    re.compile(r"pull access denied for ([^\s,]+)", re.I),
    re.compile(r"manifest for (\S+) not found", re.I),
    re.compile(r"no such image:? ([^\s,]+)", re.I),
    re.compile(r"repository (\S+) not found", re.I),
    re.compile(r"(manifest unknown|repository does not exist)", re.I),
]


def _short(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _explanation(exc: docker.errors.APIError) -> str:
    return _short(exc.explanation or exc)


@contextlib.contextmanager
def _engine_errors(action: str) -> Iterator[None]:
    """Turn whatever the SDK or the HTTP stack raises into Butler's own errors."""
    try:
        yield
    except RuntimeFailure:
        raise
    except requests.exceptions.ConnectionError as exc:  # includes ConnectTimeout
        raise EngineUnavailable(_short(exc)) from exc
    except requests.exceptions.Timeout as exc:
        raise RuntimeFailure(
            f"Docker did not answer in time while trying to {action}. "
            "The engine may be overloaded; try again."
        ) from exc
    except docker.errors.APIError as exc:
        raise RuntimeFailure(f"Docker could not {action}: {_explanation(exc)}") from exc
    except (docker.errors.DockerException, urllib3.exceptions.HTTPError) as exc:
        raise RuntimeFailure(f"Could not {action}: {_short(exc)}") from exc


class _BuildAPIClient(docker.APIClient):
    """An API client for one build that can cut the build's HTTP stream from another thread.

    Closing the connection is how a client cancels a build: the engine stops the running step
    and, with `forcerm`, removes its intermediate container.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._response: requests.Response | None = None
        self._aborted = threading.Event()

    def _post(self, url: str, **kwargs: Any) -> requests.Response:
        response = super()._post(url, **kwargs)
        self._response = response
        if self._aborted.is_set():
            self._cut(response)
        return response

    @property
    def aborted(self) -> bool:
        return self._aborted.is_set()

    def abort(self) -> None:
        self._aborted.set()
        if self._response is not None:
            self._cut(self._response)

    @staticmethod
    def _cut(response: requests.Response) -> None:
        try:
            sock = response.raw._fp.fp.raw  # the SDK reaches the socket the same way for attach
            getattr(sock, "_sock", sock).shutdown(socket.SHUT_RDWR)
        except (AttributeError, OSError):
            with contextlib.suppress(Exception):
                response.close()


class DockerRuntime:
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

    # ---- networks ----

    def _networks_named(self, name: str) -> list[dict]:
        # The engine's name filter matches substrings; keep exact matches only.
        return [n for n in self._api().networks(names=[name]) if n.get("Name") == name]

    def ensure_network(self, name: str) -> None:
        """Create the bridge network `name` unless it exists. Safe to call concurrently."""
        api = self._api()
        with _engine_errors(f"create network {name}"):
            if self._networks_named(name):
                return
            try:
                created = api.create_network(
                    name, driver="bridge", labels=self._labels(None), check_duplicate=True
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
    ) -> str:
        """Build `tag` from `context_dir` without pulling; stream output; return the image id.

        Raises `BaseImageMissing` when a FROM image is neither local nor pullable,
        `BuildFailed` (with `log_tail`) for anything else, including exceeding `timeout`.
        """
        self._connect()
        build = _BuildRun(
            on_output=on_output, secrets=secret_values(buildargs), buildargs=buildargs or {}
        )
        api = _BuildAPIClient(timeout=timeout + 30, **self._client_kwargs)
        timer = threading.Timer(timeout, api.abort)
        timer.daemon = True
        finished = False
        try:
            timer.start()
            stream = api.build(
                path=str(context_dir),
                dockerfile=dockerfile,
                tag=tag,
                labels=self._labels(labels),
                buildargs=buildargs or None,
                pull=False,
                rm=True,
                forcerm=True,
                decode=True,
                timeout=timeout + 30,
            )
            for chunk in stream:
                build.feed(chunk)
            finished = True
        except Exception as exc:
            if api.aborted:
                pass  # our timer cut the stream: reported as a timeout below
            elif isinstance(exc, docker.errors.APIError):
                build.error, finished = _explanation(exc), True
            elif isinstance(exc, requests.RequestException | urllib3.exceptions.HTTPError):
                raise EngineUnavailable(_short(exc)) from exc
            elif isinstance(exc, docker.errors.DockerException | OSError):
                build.error, finished = f"could not send the build context: {_short(exc)}", True
            else:
                raise
        finally:
            timer.cancel()
            if not finished:
                api.abort()  # an exception from on_output must not leave the build running
            build.flush()
            api.close()

        if not finished or build.error:
            self._remove_build_leftovers(build.leftovers)
        if not finished:
            raise BuildFailed(
                f"The build took longer than {timeout} s and was stopped. Make the build "
                "faster or raise BUTLER_BUILD_TIMEOUT.",
                build.tail(),
            )
        if build.error:
            missing = self._missing_base_image(build)
            if missing:
                raise BaseImageMissing(missing, detail=build.error)
            raise BuildFailed(f"The image build failed: {build.error}", build.tail())
        with _engine_errors(f"inspect image {tag}"):
            try:
                return self._api().inspect_image(tag)["Id"]
            except docker.errors.ImageNotFound as exc:
                raise BuildFailed(
                    f"The build finished but image '{tag}' was not created.", build.tail()
                ) from exc

    def _missing_base_image(self, build: _BuildRun) -> str | None:
        if build.from_ref and "$" not in build.from_ref:
            with contextlib.suppress(RuntimeFailure):
                if not self.image_exists(build.from_ref):
                    return build.from_ref
        for pattern in _MISSING_IMAGE_PATTERNS:
            match = pattern.search(build.error or "")
            if match:
                named = match.group(1)
                if named.lower() in {"manifest unknown", "repository does not exist"}:
                    return build.from_ref or "(unknown image)"
                return named
        return None

    def _remove_build_leftovers(self, leftovers: _Leftovers) -> None:
        """After a failed or stopped build: its step containers and its untagged last layer.

        The layer is only removed if nothing else holds it (no tag, no child, no container),
        so a base image or another build's cache is never touched.
        """
        api = self._api()
        for cid in leftovers.containers:
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                api.remove_container(cid, force=True)
        if leftovers.layer:
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                if not api.inspect_image(leftovers.layer).get("RepoTags"):
                    api.remove_image(leftovers.layer, force=False)

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
                return client.containers.create(
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
                    security_opt=["no-new-privileges"],
                    pids_limit=PIDS_LIMIT,
                )
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

    # ---- compose ----

    def compose_available(self) -> str | None:
        """'docker compose' (v2 plugin, preferred), 'docker-compose' (v1), or None."""
        if not self._compose_checked:
            self._compose_cmd = None
            home = tempfile.mkdtemp(prefix="butler-compose-")
            try:
                for cmd in (["docker", "compose"], ["docker-compose"]):
                    if shutil.which(cmd[0]) and _succeeds([*cmd, "version"], _clean_env(home)):
                        self._compose_cmd = cmd
                        break
            finally:
                shutil.rmtree(home, ignore_errors=True)
            self._compose_checked = True
        return " ".join(self._compose_cmd) if self._compose_cmd else None

    def compose_up(
        self,
        *,
        project_name: str,
        workdir: Path,
        compose_file: str,
        env: dict[str, str],
        on_output: OutputCallback,
        timeout: int,
    ) -> list[ContainerInfo]:
        """`compose up -d --build --remove-orphans` in a clean environment; return containers.

        The subprocess sees only PATH, a throwaway HOME, the DOCKER_* connection settings and
        `env`, so `${SECRET_KEY}` in a compose file cannot read Butler's own secrets. On
        failure the project is left as it is; call `compose_down` to clean up.
        """
        if self.compose_available() is None:
            raise ComposeFailed(
                "Neither 'docker compose' nor 'docker-compose' is installed on the Butler "
                "host. Install the Docker Compose plugin and try again."
            )
        self._connect()  # an unreachable engine is EngineUnavailable, not a compose error
        compose_path = Path(workdir) / compose_file
        home = tempfile.mkdtemp(prefix="butler-compose-")
        secrets = secret_values(env)
        try:
            override = self._write_compose_labels(compose_path, project_name, Path(home))
            run_env = {
                **{k: v for k, v in env.items() if k not in _CONNECTION_VARS},
                **_clean_env(home),
            }
            args = [*self._compose_cmd, "-p", project_name, "-f", compose_file]
            args += ["-f", str(override), "up", "-d", "--build", "--remove-orphans"]
            leftovers = _Leftovers()

            def on_line(line: str) -> None:
                leftovers.see(line)
                on_output(line)

            rc, timed_out, lines = _run_streaming(
                args,
                cwd=Path(workdir),
                env=run_env,
                timeout=timeout,
                on_line=on_line,
                secrets=secrets,
            )
        finally:
            shutil.rmtree(home, ignore_errors=True)
        if timed_out or rc != 0:
            # docker-compose v1 builds without --force-rm: a failed step's container stays.
            self._remove_build_leftovers(leftovers)
        tail = tail_lines(lines, TAIL_LINES)
        if timed_out:
            raise ComposeFailed(
                f"docker compose did not finish within {timeout} s and was stopped. "
                "Make the build faster or raise BUTLER_BUILD_TIMEOUT.",
                tail,
            )
        if rc != 0:
            last = next((ln for ln in reversed(lines) if ln.strip()), "no output")
            raise ComposeFailed(f"docker compose up failed (exit code {rc}): {last}", tail)
        return self.compose_containers(project_name)

    def _write_compose_labels(self, compose_path: Path, project_name: str, into: Path) -> Path:
        """An override file that puts Butler's labels on every service and built image."""
        try:
            data = yaml.safe_load(compose_path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ComposeFailed(f"The compose file '{compose_path.name}' does not exist.") from exc
        except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
            raise ComposeFailed(
                f"The compose file '{compose_path.name}' is not valid YAML: {_short(exc)}"
            ) from exc
        services = data.get("services") if isinstance(data, dict) else None
        if not isinstance(services, dict) or not services:
            raise ComposeFailed(
                f"The compose file '{compose_path.name}' has no 'services:' section. "
                "Butler supports the Compose file format with a top-level 'services:' key."
            )
        labels = self._labels(None)
        override: dict[str, Any] = {"services": {}}
        if isinstance(data.get("version"), str | int | float):
            override["version"] = str(data["version"])
        for name, service in services.items():
            entry: dict[str, Any] = {"labels": labels}
            if isinstance(service, dict) and service.get("build") is not None:
                entry["build"] = {"labels": {**labels, COMPOSE_IMAGE_LABEL: project_name}}
            override["services"][str(name)] = entry
        path = into / "butler-labels.compose.json"  # JSON is YAML; no emitter needed
        path.write_text(json.dumps(override), encoding="utf-8")
        return path

    def compose_down(self, *, project_name: str) -> None:
        """Remove a compose project's containers, networks, volumes and built images.

        Works from labels alone, so it succeeds after the work dir is gone.
        """
        api = self._api()
        project = [f"{COMPOSE_PROJECT_LABEL}={project_name}"]
        with _engine_errors(f"remove compose project {project_name}"):
            for row in api.containers(all=True, filters={"label": project}):
                with contextlib.suppress(docker.errors.NotFound):
                    api.remove_container(row["Id"], force=True, v=True)
            for net in api.networks(filters={"label": project}):
                with contextlib.suppress(docker.errors.NotFound):
                    api.remove_network(net["Id"])
            for vol in api.volumes(filters={"label": project}).get("Volumes") or []:
                with contextlib.suppress(docker.errors.NotFound):
                    api.remove_volume(vol["Name"], force=True)
            images = api.images(
                filters={"label": self._label_filter({COMPOSE_IMAGE_LABEL: project_name})}
            )
            for image in images:
                with contextlib.suppress(docker.errors.NotFound):
                    api.remove_image(image["Id"], force=True)

    def compose_containers(self, project_name: str) -> list[ContainerInfo]:
        """This instance's containers of a compose project; labels name the service."""
        return self._list_by_filter(
            [f"{COMPOSE_PROJECT_LABEL}={project_name}", f"{INSTANCE_LABEL}={self.instance_id}"]
        )


class _Leftovers:
    """What a classic-builder build leaves behind when it fails, read from its output."""

    def __init__(self) -> None:
        self.containers: list[str] = []
        self.layer: str | None = None  # the last committed step

    def see(self, line: str) -> None:
        if running := _RUNNING_IN.search(line):
            self.containers.append(running.group(1))
        elif layer := _LAYER.match(line):
            self.layer = layer.group(1)


class _BuildRun:
    """Accumulates one build's streamed output: lines, the failing step, leftovers."""

    def __init__(
        self, *, on_output: OutputCallback, secrets: list[str], buildargs: dict[str, str]
    ) -> None:
        self._on_output = on_output
        self._secrets = secrets
        self._buildargs = dict(buildargs)
        self._args = dict(buildargs)  # ARG values seen so far, to expand `FROM img:${V}`
        self._partial = ""
        self._lines: deque[str] = deque(maxlen=TAIL_LINES)
        self.error: str | None = None
        self.from_ref: str | None = None  # the image of the FROM step being run, if any
        self.leftovers = _Leftovers()

    def feed(self, chunk: dict) -> None:
        if "stream" in chunk:
            self._text(str(chunk["stream"]))
        elif "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("errorDetail") or {}
            self.error = str(detail.get("message") or chunk.get("error") or "unknown error")
            self._text("\n" + self.error + "\n")
        elif "status" in chunk:  # pull progress, if the engine pulls a missing base image
            progress = f" {chunk['progress']}" if chunk.get("progress") else ""
            self._text(f"{chunk.get('id', '')} {chunk['status']}{progress}".strip() + "\n")

    def _text(self, text: str) -> None:
        self._partial += text
        *complete, self._partial = self._partial.split("\n")
        for line in complete:
            self._line(line.rstrip("\r"))

    def _line(self, line: str) -> None:
        line = _ANSI.sub("", line)
        step = _STEP.match(line)
        if step:
            instruction, rest = step.group(1).upper(), step.group(2)
            self.from_ref = self._expand(_from_image(rest)) if instruction == "FROM" else None
            if instruction == "ARG":
                name, eq, default = rest.partition("=")
                if eq and name.strip() not in self._buildargs:
                    self._args[name.strip()] = default.strip().strip("\"'")
        self.leftovers.see(line)
        line = redact(line, self._secrets)
        self._lines.append(line)
        self._on_output(line)

    def flush(self) -> None:
        if self._partial:
            partial, self._partial = self._partial, ""
            self._line(partial)

    def tail(self) -> str:
        return tail_lines(tuple(self._lines), TAIL_LINES)

    def _expand(self, ref: str | None) -> str | None:
        def value(m: re.Match) -> str:
            name = m.group(1) or m.group(3)
            return self._args.get(name) or (m.group(2) or "")

        return _VAR.sub(value, ref) if ref else ref


def _from_image(args: str) -> str | None:
    """`--platform=x python:3.11-slim AS build` -> `python:3.11-slim`."""
    words = [w for w in args.split() if not w.startswith("--")]
    return words[0] if words else None


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


# Settings that say how to reach the engine; they come from Butler's environment, never from
# a project's env vars.
_CONNECTION_VARS = ("DOCKER_HOST", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")


def _clean_env(home: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME": home}
    env.update({k: os.environ[k] for k in _CONNECTION_VARS if os.environ.get(k)})
    return env


def _succeeds(args: list[str], env: dict[str, str]) -> bool:
    try:
        done = subprocess.run(args, env=env, capture_output=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _run_streaming(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: int,
    on_line: OutputCallback,
    secrets: list[str],
) -> tuple[int, bool, list[str]]:
    """Run a command in its own process group; stream redacted lines; kill it all on timeout."""
    try:
        proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise ComposeFailed(f"Could not start {args[0]}: {_short(exc)}") from exc
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.daemon = True
    timer.start()
    lines: deque[str] = deque(maxlen=200)
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = redact(raw.decode("utf-8", errors="replace").rstrip("\r\n"), secrets)
            lines.append(line)
            on_line(line)
        rc = proc.wait()
    except BaseException:
        kill()
        proc.wait()
        raise
    finally:
        timer.cancel()
    return rc, timed_out.is_set(), list(lines)


def _free_port() -> int:
    """A port nothing on this host listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def _port_taken(exc: docker.errors.APIError) -> bool:
    text = str(exc).lower()
    return "port is already allocated" in text or "address already in use" in text

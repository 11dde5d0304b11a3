"""The compose verbs of `DockerRuntime`, run through the compose CLI in a clean environment.

`ComposeMixin` holds them; `DockerRuntime` inherits it and provides the connection, the label
helpers and the build-leftover cleanup they rely on.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker.errors
import yaml

from core.cancel import Cancelled, CancelToken
from core.processes import ProcessStartError, run_streaming
from core.safefiles import UnsafePath, read_text

from .base import (
    COMPOSE_PROJECT_LABEL,
    INSTANCE_LABEL,
    ComposeFailed,
    ContainerInfo,
    OutputCallback,
    redact,
    secret_values,
    tail_lines,
)
from .docker_build import TAIL_LINES, Leftovers
from .docker_errors import _engine_errors, _short

COMPOSE_IMAGE_LABEL = "butler.compose.project"


class ComposeMixin:
    """`compose_available`, `compose_up`, `compose_down`, `compose_containers`."""

    # Set by `DockerRuntime.__init__`.
    _compose_cmd: list[str] | None
    _compose_checked: bool

    if TYPE_CHECKING:  # provided by `DockerRuntime`

        @property
        def instance_id(self) -> str: ...
        def _connect(self) -> docker.DockerClient: ...
        def _api(self) -> docker.APIClient: ...
        def _labels(self, labels: dict[str, str] | None) -> dict[str, str]: ...
        def _label_filter(self, labels: dict[str, str] | None) -> list[str]: ...
        def _list_by_filter(self, label_filter: list[str]) -> list[ContainerInfo]: ...
        def remove_build_leftovers(self, leftovers: Leftovers | str) -> int: ...

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
        cancel: CancelToken | None = None,
        build_network: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> list[ContainerInfo]:
        """`compose up -d --build --remove-orphans` in a clean environment; return containers.

        `workdir` is the project directory (relative paths in the file start there);
        `compose_file` may live elsewhere. The subprocess sees only PATH, a throwaway HOME, the
        DOCKER_* connection settings and `env`, so `${SECRET_KEY}` in a compose file cannot
        read Butler's own secrets; the project directory's `.env` is read by Butler without
        following a symlink and handed over as a copy. On failure (or `Cancelled`) the
        project is left as it is; call `compose_down` to clean up. The builds' leftover
        images are removed either way. `labels` (the project's) go on the networks and
        volumes the stack makes, beside the instance's.
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
            override = self._write_compose_labels(
                compose_path,
                project_name,
                Path(home),
                build_network=build_network,
                owned_by=labels or {},
            )
            env_file = _dotenv_copy(Path(workdir), Path(home))
            run_env = {
                **{k: v for k, v in env.items() if k not in _CONNECTION_VARS},
                **_clean_env(home),
            }
            args = [*self._compose_cmd, "-p", project_name, "--project-directory", str(workdir)]
            args += ["--env-file", str(env_file), "-f", str(compose_path)]
            args += ["-f", str(override), "up", "-d", "--build", "--remove-orphans"]
            leftovers = Leftovers()

            def on_line(line: str) -> None:
                leftovers.see(line)
                on_output(line)

            try:
                result = run_streaming(
                    args,
                    cwd=Path(workdir),
                    env=run_env,
                    timeout=timeout,
                    on_line=on_line,
                    transform=lambda line: redact(line, secrets),
                    cancel=cancel,
                )
            except ProcessStartError as exc:
                raise ComposeFailed(f"Could not start {args[0]}: {_short(exc)}") from exc
        finally:
            shutil.rmtree(home, ignore_errors=True)
        # docker-compose v1 builds without --force-rm: a failed step's container stays.
        self.remove_build_leftovers(leftovers)
        if result.cancelled:
            raise Cancelled(cancel.reason if cancel is not None else "Cancelled")
        rc, lines = result.returncode, result.lines
        tail = tail_lines(lines, TAIL_LINES)
        if result.timed_out:
            raise ComposeFailed(
                f"docker compose did not finish within {timeout} s and was stopped. "
                "Make the build faster or raise BUTLER_BUILD_TIMEOUT.",
                tail,
            )
        if rc != 0:
            last = next((ln for ln in reversed(lines) if ln.strip()), "no output")
            raise ComposeFailed(f"docker compose up failed (exit code {rc}): {last}", tail)
        return self.compose_containers(project_name)

    def _write_compose_labels(
        self,
        compose_path: Path,
        project_name: str,
        into: Path,
        *,
        build_network: str | None,
        owned_by: dict[str, str],
    ) -> Path:
        """An override file that puts Butler's labels on every service and built image, and
        runs the builds' steps on `build_network`."""
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
                if build_network:
                    entry["build"]["network"] = build_network
            override["services"][str(name)] = entry
        # The networks and volumes the stack makes carry the labels too (file format 2.1 and
        # later take them), so its leftovers are found like everything else Butler makes.
        if _labels_on_networks(data.get("version")):
            for section, extra in (("networks", {"default"}), ("volumes", set())):
                declared = data.get(section) if isinstance(data.get(section), dict) else {}
                for item in set(declared) | extra:
                    conf = declared.get(item)
                    if isinstance(conf, dict) and conf.get("external"):
                        continue
                    override.setdefault(section, {})[str(item)] = {"labels": self._labels(owned_by)}
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


# Settings that say how to reach the engine; they come from Butler's environment, never from
# a project's env vars.
_CONNECTION_VARS = ("DOCKER_HOST", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")


def _dotenv_copy(project_dir: Path, into: Path) -> Path:
    """The project directory's `.env` (what compose fills `${VAR}` defaults from), copied;
    empty when there is none. A `.env` that is a symlink fails the deploy instead of
    handing a host file's contents to the app."""
    try:
        text = read_text(project_dir, ".env") or ""
    except UnsafePath as exc:
        raise ComposeFailed(f"{exc}. Commit the .env file itself, or remove it.") from None
    path = into / "compose.env"
    path.write_text(text, encoding="utf-8")
    return path


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


def _labels_on_networks(version: object) -> bool:
    """Whether a compose file of `version` takes labels on networks and volumes (2.1+)."""
    if version is None:
        return True
    try:
        major, _, minor = str(version).partition(".")
        return (int(major), int(minor or 0)) >= (2, 1)
    except ValueError:
        return True

"""Image builds for `DockerRuntime`: the `build_image` verb and reading the build's output.

`BuildMixin` holds the verb; `DockerRuntime` inherits it and provides the connection and label
helpers. `_BuildRun` turns the engine's JSON stream into redacted lines, notes the failing FROM
step (with its ARG-expanded image) and what the build leaves behind (`Leftovers`);
`_BuildAPIClient` lets a timer or a cancel token cut a build short.

The classic builder keeps every step's result as an image. Those of the final stage are the
tagged image's parents (they *are* the image); those of earlier stages, and the last step of
a failed or stopped build, would stay behind as untagged `<none>` images and fill the disk.
After every build, whatever it left dangling is removed; an image another build or a tag
still holds is never touched (the engine refuses to remove those without force).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import tarfile
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker
import docker.errors
import docker.utils.build
import requests
import urllib3.exceptions

from core.cancel import Cancelled, CancelToken
from core.safefiles import UnsafePath, read_text

from .base import (
    BaseImageMissing,
    BuildFailed,
    EngineUnavailable,
    OutputCallback,
    RuntimeFailure,
    redact,
    secret_values,
    tail_lines,
)
from .docker_errors import _engine_errors, _explanation, _short

TAIL_LINES = 30
LEFTOVER_GRACE_SECONDS = 3.0

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


class BuildMixin:
    """`build_image`, and the cleanup after a failed build that `compose_up` shares."""

    _client_kwargs: dict[str, Any]  # set by `DockerRuntime._connect`

    if TYPE_CHECKING:  # provided by `DockerRuntime`

        def _connect(self) -> docker.DockerClient: ...
        def _api(self) -> docker.APIClient: ...
        def _labels(self, labels: dict[str, str] | None) -> dict[str, str]: ...
        def image_exists(self, ref: str) -> bool: ...

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
        """Build `tag` from `context_dir` without pulling; stream output; return the image id.

        The Dockerfile is `dockerfile_text` when given (else the file `dockerfile` of the
        context), and the context is filtered by `dockerignore_text` (else the context's own
        `.dockerignore`); neither is written into the context. Labels go on in one step.

        Raises `BaseImageMissing` when a FROM image is neither local nor pullable,
        `BuildFailed` (with `log_tail`) for anything else, including exceeding `timeout`, and
        `Cancelled` when `cancel` fires. Whatever the outcome, no untagged image or step
        container of this build stays behind.
        """
        self._connect()
        context = _build_context(
            Path(context_dir),
            dockerfile=dockerfile,
            dockerfile_text=dockerfile_text,
            dockerignore_text=dockerignore_text,
            labels=self._labels(labels),
            extra_files=extra_files or {},
        )
        build = _BuildRun(
            on_output=on_output, secrets=secret_values(buildargs), buildargs=buildargs or {}
        )
        api = _BuildAPIClient(timeout=timeout + 30, **self._client_kwargs)
        stack = contextlib.ExitStack()
        timer = threading.Timer(timeout, api.abort)
        timer.daemon = True
        finished = False
        try:
            timer.start()
            if cancel is not None:
                stack.enter_context(cancel.on_cancel(api.abort))
            stream = api.build(
                fileobj=context,
                custom_context=True,
                dockerfile=CONTEXT_DOCKERFILE,
                tag=tag,
                buildargs=buildargs or None,
                network_mode=network,
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
            stack.close()
            if not finished:
                api.abort()  # an exception from on_output must not leave the build running
            build.flush()
            api.close()
            context.close()
            self.remove_build_leftovers(build.leftovers)

        if cancel is not None and cancel.cancelled:
            raise Cancelled(cancel.reason)
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

    def remove_build_leftovers(self, leftovers) -> int:
        """Remove what a build left behind: its step containers, and the images it made that
        nothing holds (no tag, no child image, no container). Returns how many images went.

        `leftovers` is what `_BuildRun` collected, or the build's output as text (read back
        from a deployment's log when its worker died mid-build). A base image, a tagged image,
        or a layer another image builds on is never removed.
        """
        if isinstance(leftovers, str):
            seen = Leftovers()
            for line in leftovers.splitlines():
                seen.see(line)
            leftovers = seen
        if not leftovers.layers and not leftovers.containers:
            return 0
        api = self._api()
        for cid in leftovers.containers:
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                api.remove_container(cid, force=True)
        # A step container the engine is still tearing down holds its parent layer for a
        # moment: try again briefly for what could not go yet.
        removed, pending = 0, list(reversed(leftovers.layers))
        deadline = time.monotonic() + LEFTOVER_GRACE_SECONDS
        while pending:
            try:
                dangling = {i["Id"] for i in api.images(filters={"dangling": True})}
            except (docker.errors.DockerException, requests.RequestException):
                return removed
            still = []
            for layer in pending:
                match = next((d for d in dangling if d.split(":")[-1].startswith(layer)), None)
                if match is None:
                    continue
                # Without force the engine refuses an image in use; pruning (the default)
                # also takes the untagged parents that only this one held.
                try:
                    api.remove_image(match, force=False)
                    removed += 1
                except docker.errors.NotFound:
                    continue
                except (docker.errors.DockerException, requests.RequestException):
                    still.append(layer)
            if not still or time.monotonic() > deadline:
                break
            pending = still
            time.sleep(0.25)
        return removed


CONTEXT_DOCKERFILE = ".butler.dockerfile"


def _build_context(
    root: Path,
    *,
    dockerfile: str,
    dockerfile_text: str | None,
    dockerignore_text: str | None,
    labels: dict[str, str],
    extra_files: dict[str, bytes],
):
    """The build context as a tar file: the context's files minus the ignored ones (symlinks
    stay links, never followed), `extra_files`, and the Dockerfile with Butler's labels in
    one last step (a `.dockerignore` naming it, so the daemon keeps it out of the image).

    Raises `BuildFailed` when the Dockerfile or `.dockerignore` cannot be read.
    """
    try:
        if dockerfile_text is None:
            dockerfile_text = read_text(root, dockerfile)
            if dockerfile_text is None:
                raise BuildFailed(f"The image build failed: there is no {dockerfile}.")
        if dockerignore_text is None:
            dockerignore_text = read_text(root, ".dockerignore") or ""
    except UnsafePath as exc:
        raise BuildFailed(f"The image build failed: {exc}.") from None
    patterns = [
        line.strip()
        for line in dockerignore_text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    label_line = "LABEL " + " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in labels.items())
    text = dockerfile_text.rstrip("\n") + "\n" + label_line + "\n"
    ignore = "\n".join([*(patterns or [".dockerignore"]), CONTEXT_DOCKERFILE])
    generated = {".dockerignore": ignore.encode(), CONTEXT_DOCKERFILE: text.encode()}
    generated.update(extra_files)
    try:
        files = sorted(docker.utils.build.exclude_paths(str(root), patterns, CONTEXT_DOCKERFILE))
        return _tar(root, files, generated)
    except OSError as exc:
        raise BuildFailed(f"The build context could not be read: {_short(exc)}") from exc


def _tar(root: Path, files: list[str], generated: dict[str, bytes]):
    """A tar of `files` under `root` (links as links, never followed) and `generated`."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - the build reads it, then closes it
    with tarfile.open(fileobj=handle, mode="w") as archive:
        for rel in files:
            if rel in generated:
                continue
            full = root / rel
            info = archive.gettarinfo(str(full), arcname=rel)
            if info is None:  # a socket: not something a build can use
                continue
            if info.isfile():
                with open(full, "rb") as data:
                    archive.addfile(info, data)
            else:
                archive.addfile(info)
        for name, data in generated.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            archive.addfile(info, io.BytesIO(data))
    handle.seek(0)
    return handle


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


class Leftovers:
    """What a classic-builder build may leave behind, read from its output: step containers
    ("---> Running in <id>") and step results ("---> <id>")."""

    def __init__(self) -> None:
        self.containers: list[str] = []
        self.layers: list[str] = []

    def see(self, line: str) -> None:
        if running := _RUNNING_IN.search(line):
            self.containers.append(running.group(1))
        elif (layer := _LAYER.match(line)) and layer.group(1) not in self.layers:
            self.layers.append(layer.group(1))


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
        self.leftovers = Leftovers()

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

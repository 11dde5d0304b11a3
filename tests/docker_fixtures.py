"""Runtime fixtures: the real Docker runtime (with cleanup) and the in-memory fake.

Docker tests fail loudly when the engine is down: `docker_runtime` pings it first.
Everything a test creates carries this run's `butler.instance` label (test settings make a
fresh id per run), which is how the cleanup finds it.
"""

from __future__ import annotations

import contextlib
import json
import random
import secrets
import socket
import subprocess
from collections.abc import Iterator

import pytest
from django.conf import settings

from deployments.runtime import RuntimeFailure, get_runtime, reset_runtime
from deployments.runtime.docker_engine import DockerRuntime
from deployments.runtime.fake import FakeRuntime


def docker_cli(*args: str) -> str:
    """Run the docker CLI (an independent check of what the runtime did)."""
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=60, check=False
    ).stdout


def docker_inspect(ref: str) -> dict | None:
    """`docker inspect` of a container/image/network, or None if it does not exist."""
    out = docker_cli("inspect", ref)
    data = json.loads(out) if out.strip() else []
    return data[0] if data else None


def _ids(kind: str, instance: str) -> set[str]:
    label = f"label=butler.instance={instance}"
    if kind == "container":
        out = docker_cli("ps", "-aq", "--no-trunc", "--filter", label)
    elif kind == "image":
        out = docker_cli("images", "-q", "--no-trunc", "--filter", label)
    else:
        out = docker_cli("network", "ls", "-q", "--no-trunc", "--filter", label)
    return set(out.split())


def remove_instance_objects(instance: str, keep: dict[str, set[str]] | None = None) -> None:
    """Force-remove containers, then images, then networks labelled with `instance`."""
    keep = keep or {}
    for kind, rm in (
        ("container", ["rm", "-f", "-v"]),
        ("image", ["rmi", "-f"]),
        ("network", ["network", "rm"]),
    ):
        doomed = _ids(kind, instance) - keep.get(kind, set())
        if doomed:
            docker_cli(*rm, *sorted(doomed))


@pytest.fixture(scope="session")
def docker_runtime() -> Iterator[DockerRuntime]:
    """The real runtime for the whole run; at the end removes everything of this instance."""
    runtime = DockerRuntime()
    runtime.ping()  # EngineUnavailable here means: start Docker, these tests need it
    yield runtime
    remove_instance_objects(settings.BUTLER_INSTANCE_ID)


@pytest.fixture
def runtime(docker_runtime: DockerRuntime) -> Iterator[DockerRuntime]:
    """The real runtime; afterwards removes what the test created (even if it failed).

    Objects that existed before the test (e.g. an image from a module-scoped fixture) stay.
    """
    instance = settings.BUTLER_INSTANCE_ID
    before = {kind: _ids(kind, instance) for kind in ("container", "image", "network")}
    yield docker_runtime
    remove_instance_objects(instance, keep=before)


@pytest.fixture
def unique_name() -> Iterator[callable]:
    """`unique_name("web")` -> `test1a2b3c4d-web-9f8e7d6c`: never clashes with other runs."""

    def make(prefix: str) -> str:
        return f"{settings.BUTLER_INSTANCE_ID}-{prefix}-{secrets.token_hex(4)}"

    yield make


@pytest.fixture
def compose_project(docker_runtime: DockerRuntime, unique_name) -> Iterator[str]:
    """A compose project name that is torn down (containers, networks, volumes) afterwards."""
    name = unique_name("compose").lower()
    yield name
    with contextlib.suppress(RuntimeFailure):
        docker_runtime.compose_down(project_name=name)


@pytest.fixture
def fake_runtime(settings) -> Iterator[FakeRuntime]:
    """`get_runtime()` returns this in-memory fake for the duration of the test."""
    settings.BUTLER_RUNTIME = "deployments.runtime.fake.FakeRuntime"
    reset_runtime()
    fake = get_runtime()
    assert isinstance(fake, FakeRuntime)
    yield fake
    reset_runtime()


@pytest.fixture
def repos(settings, tmp_path, runtime):
    """A folder for test repositories that Butler may clone (BUTLER_LOCAL_GIT_ROOTS), with the
    real runtime cleaning up after the test."""
    root = tmp_path / "repos"
    root.mkdir()
    settings.BUTLER_LOCAL_GIT_ROOTS = [str(root)]
    settings.BUTLER_READY_TIMEOUT = 60
    return root


@pytest.fixture
def fake_proxy(settings):
    """`get_proxy()` returns this in-memory fake for the duration of the test."""
    from deployments.proxy import get_proxy, reset_proxy
    from deployments.proxy.fake import FakeProxy

    settings.BUTLER_PROXY = "deployments.proxy.fake.FakeProxy"
    reset_proxy()
    fake = get_proxy()
    assert isinstance(fake, FakeProxy)
    yield fake
    reset_proxy()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_block(size: int) -> str:
    """`a-b`: `size` consecutive ports nothing listens on, below the kernel's ephemeral range
    (where engine-published ports come from), at a random place so parallel runs differ."""
    for _ in range(500):
        start = random.randrange(15000, 32000 - size)
        ok = True
        for port in range(start, start + size):
            with socket.socket() as sock:
                try:
                    sock.bind(("", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return f"{start}-{start + size - 1}"
    raise RuntimeError(f"no {size} free consecutive ports")


@pytest.fixture(scope="session")
def caddy_proxy(tmp_path_factory) -> Iterator[dict]:
    """A real Caddy for the run, as `runbutler` starts it: admin API on a Unix socket, free
    ports for the shared HTTP(S) server and a block of public ports (never 80/443). Returns
    the settings that point Butler at it."""
    from django.test import override_settings

    from deployments.proxy import reset_proxy
    from deployments.proxy.runner import caddy_command, wait_for_admin

    folder = tmp_path_factory.mktemp("caddy")
    values = {
        "BUTLER_PROXY": "deployments.proxy.caddy.CaddyProxy",
        "BUTLER_CADDY_ADMIN": str(folder / "admin.sock"),
        "BUTLER_HTTP_PORT": free_port(),
        "BUTLER_HTTPS_PORT": free_port(),
        "BUTLER_PROXY_PORTS": free_port_block(40),
    }
    with override_settings(**values):
        reset_proxy()
        log = open(folder / "caddy.log", "ab")  # noqa: SIM115 - Caddy writes to it all run
        process = subprocess.Popen(
            caddy_command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        assert wait_for_admin(15), (folder / "caddy.log").read_text()
    reset_proxy()
    yield {**values, "process": process}
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(autouse=True)
def _real_proxy_in_docker_tests(request):
    """Tests marked `docker` reach apps the way users do: through the real Caddy."""
    if request.node.get_closest_marker("docker") is None:
        yield
        return
    from deployments.proxy import reset_proxy

    values = request.getfixturevalue("caddy_proxy")
    settings = request.getfixturevalue("settings")
    for name, value in values.items():
        if name != "process":
            setattr(settings, name, value)
    reset_proxy()
    yield
    reset_proxy()

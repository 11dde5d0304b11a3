"""The Docker runtime against the real engine: build, run, inspect, compose, isolation."""

from __future__ import annotations

import re
import shutil
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from deployments.runtime import (
    BaseImageMissing,
    BuildFailed,
    ComposeFailed,
    ContainerNotFound,
    ContainerSpec,
    EngineUnavailable,
    RuntimeFailure,
)
from deployments.runtime.docker_engine import DockerRuntime
from tests.docker_fixtures import docker_cli, docker_inspect, remove_instance_objects

MARKER = "butler-runtime-test-page"


def http_get(port: int, *, timeout: float = 20.0) -> str:
    """GET http://127.0.0.1:<port>/ once the server answers; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                return resp.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def write_context(path: Path, dockerfile: str, **files: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "Dockerfile").write_text(dockerfile)
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def build(runtime: DockerRuntime, context: Path, tag: str, **kwargs) -> tuple[str, list[str]]:
    lines: list[str] = []
    image_id = runtime.build_image(
        context_dir=context,
        dockerfile="Dockerfile",
        tag=tag,
        labels=kwargs.pop("labels", {"butler.project": "rt-test"}),
        buildargs=kwargs.pop("buildargs", None),
        on_output=lines.append,
        timeout=kwargs.pop("timeout", 120),
    )
    return image_id, lines


def intermediate_containers(lines: list[str]) -> list[str]:
    return re.findall(r"Running in ([0-9a-f]{12})", "\n".join(lines))


def committed_layers(lines: list[str]) -> list[str]:
    return re.findall(r"^\s*---> ([0-9a-f]{12})\s*$", "\n".join(lines), re.M)


@pytest.fixture(scope="module")
def http_image(docker_runtime, tmp_path_factory):
    """One tiny `python -m http.server $PORT` image shared by the module's tests."""
    context = write_context(
        tmp_path_factory.mktemp("http-image"),
        "FROM python:3.11-slim\nWORKDIR /srv\nCOPY index.html .\nEXPOSE 8000\n"
        "CMD python -m http.server $PORT\n",
        **{"index.html": f"<h1>{MARKER}</h1>"},
    )
    tag = f"butler-test/{settings.BUTLER_INSTANCE_ID}-http:1"
    image_id, lines = build(docker_runtime, context, tag)
    yield {"tag": tag, "id": image_id, "lines": lines}
    docker_runtime.remove_image(tag)


@pytest.fixture
def network(runtime, unique_name):
    name = unique_name("net")
    runtime.ensure_network(name)
    return name


def spec(image: str, name: str, network: str, **overrides) -> ContainerSpec:
    values = {
        "name": name,
        "image": image,
        "env": {"PORT": "8000"},
        "labels": {"butler.project": "rt-test"},
        "container_port": 8000,
        "network": network,
        "memory": "256m",
        "cpus": 0.5,
    }
    return ContainerSpec(**{**values, **overrides})


# ---- engine ----


def test_an_unreachable_engine_is_reported_as_engine_unavailable(tmp_path):
    runtime = DockerRuntime(base_url=f"unix://{tmp_path}/docker.sock")
    started = time.monotonic()
    with pytest.raises(EngineUnavailable, match="Start Docker and try again"):
        runtime.list_containers({})
    assert time.monotonic() - started < 10


@pytest.mark.docker
def test_ping_reports_the_engine_version(runtime):
    info = runtime.ping()
    assert info["server_version"]
    assert re.match(r"^\d+\.\d+$", info["api_version"])


# ---- images ----


@pytest.mark.docker
def test_build_streams_output_and_labels_the_image(runtime, http_image):
    assert any(
        "Step 1/" in line and "FROM python:3.11-slim" in line for line in http_image["lines"]
    )
    assert runtime.image_exists(http_image["tag"])
    assert runtime.image_exposed_ports(http_image["tag"]) == [8000]
    [image] = runtime.list_images({"butler.project": "rt-test"})
    assert image.id == http_image["id"]
    assert image.tags == [http_image["tag"]]
    assert image.labels["butler.managed"] == "true"
    assert image.labels["butler.instance"] == settings.BUTLER_INSTANCE_ID
    assert runtime.list_images({"butler.project": "someone-else"}) == []


@pytest.mark.docker
def test_a_missing_base_image_is_reported_quickly_by_name(runtime, tmp_path):
    context = write_context(tmp_path, "FROM python:2.1-slim\nCMD true\n")
    started = time.monotonic()
    with pytest.raises(BaseImageMissing) as exc_info:
        build(runtime, context, f"butler-test/{settings.BUTLER_INSTANCE_ID}-missing:1")
    assert time.monotonic() - started < 30
    assert exc_info.value.image == "python:2.1-slim"
    assert "python:2.1-slim" in str(exc_info.value)
    assert not runtime.image_exists(f"butler-test/{settings.BUTLER_INSTANCE_ID}-missing:1")


@pytest.mark.docker
def test_a_base_image_named_through_an_arg_is_reported_expanded(runtime, tmp_path):
    context = write_context(tmp_path, "ARG PY=2.1\nFROM python:${PY}-slim\n")
    with pytest.raises(BaseImageMissing) as exc_info:
        build(runtime, context, f"butler-test/{settings.BUTLER_INSTANCE_ID}-argfrom:1")
    assert exc_info.value.image == "python:2.1-slim"


@pytest.mark.docker
def test_a_failing_step_gives_the_log_tail_masks_secrets_and_leaves_no_container(runtime, tmp_path):
    context = write_context(
        tmp_path,
        "FROM python:3.11-slim\nARG TOKEN\n"
        'RUN echo "token is $TOKEN" && echo step-went-wrong >&2 && exit 3\n',
    )
    lines: list[str] = []
    with pytest.raises(BuildFailed) as exc_info:
        runtime.build_image(
            context_dir=context,
            dockerfile="Dockerfile",
            tag=f"butler-test/{settings.BUTLER_INSTANCE_ID}-fails:1",
            labels={},
            buildargs={"TOKEN": "s3cr3t-build-value"},
            on_output=lines.append,
            timeout=120,
        )
    error = exc_info.value
    assert "returned a non-zero code: 3" in str(error)
    assert "step-went-wrong" in error.log_tail
    assert "token is ****" in error.log_tail
    assert "s3cr3t-build-value" not in error.log_tail + str(error) + "\n".join(lines)
    assert "\x1b[" not in error.log_tail
    assert len(error.log_tail.splitlines()) <= 30
    leftovers = intermediate_containers(lines)
    assert leftovers, "the RUN step should have run in an intermediate container"
    assert all(docker_inspect(cid) is None for cid in leftovers)
    base, arg_layer = committed_layers(lines)
    assert docker_inspect(arg_layer) is None  # the failed build's untagged layer is gone
    assert docker_inspect(base) is not None  # the base image is not touched


@pytest.mark.docker
def test_a_build_over_its_timeout_is_stopped(runtime, tmp_path):
    context = write_context(tmp_path, "FROM python:3.11-slim\nRUN echo sleeping && sleep 120\n")
    lines: list[str] = []
    started = time.monotonic()
    with pytest.raises(BuildFailed, match="longer than 3 s") as exc_info:
        runtime.build_image(
            context_dir=context,
            dockerfile="Dockerfile",
            tag=f"butler-test/{settings.BUTLER_INSTANCE_ID}-slow:1",
            labels={},
            buildargs=None,
            on_output=lines.append,
            timeout=3,
        )
    assert time.monotonic() - started < 30
    assert "sleeping" in exc_info.value.log_tail
    leftovers = intermediate_containers(lines)
    assert leftovers
    deadline = time.monotonic() + 15  # the engine cancels the step when the stream closes
    while any(docker_inspect(cid) for cid in leftovers) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert all(docker_inspect(cid) is None for cid in leftovers)
    assert runtime.image_exists("python:3.11-slim")


@pytest.mark.docker
def test_a_dockerfile_syntax_error_is_a_build_failure(runtime, tmp_path):
    context = write_context(tmp_path, "FRM python:3.11-slim\n")
    with pytest.raises(BuildFailed, match="unknown instruction"):
        build(runtime, context, f"butler-test/{settings.BUTLER_INSTANCE_ID}-syntax:1")


@pytest.mark.docker
def test_remove_image_is_tolerant_and_never_touches_foreign_images(runtime, tmp_path):
    tag = f"butler-test/{settings.BUTLER_INSTANCE_ID}-rm:1"
    build(runtime, write_context(tmp_path, "FROM python:3.11-slim\nENV X=1\n"), tag)
    assert runtime.remove_image(tag) is True
    assert runtime.remove_image(tag) is False
    assert runtime.image_exists(tag) is False
    assert runtime.remove_image("python:3.11-slim") is False  # a base image, not Butler's
    assert runtime.image_exists("python:3.11-slim")


# ---- containers ----


@pytest.mark.docker
def test_run_serves_http_on_a_port_the_engine_chose(runtime, http_image, network, unique_name):
    name = unique_name("web")
    info = runtime.run_container(
        spec(http_image["tag"], name, network, env={"PORT": "8000", "APP_SECRET": "x" * 12})
    )
    assert info.name == name
    assert info.status == "running"
    assert info.container_port == 8000
    assert info.host_port and info.host_port > 0
    assert info.ip
    assert info.image == http_image["tag"]
    assert info.labels["butler.project"] == "rt-test"
    assert info.labels["butler.instance"] == settings.BUTLER_INSTANCE_ID
    assert MARKER in http_get(info.host_port)

    attrs = docker_inspect(info.id)
    host = attrs["HostConfig"]
    assert host["CapDrop"] == ["ALL"]
    assert "SYS_ADMIN" not in (host["CapAdd"] or [])
    assert host["Privileged"] is False
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["PidsLimit"] > 0
    assert host["Memory"] == 256 * 1024 * 1024
    assert host["NanoCpus"] == 500_000_000
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert not attrs["Mounts"]
    assert network in attrs["NetworkSettings"]["Networks"]


@pytest.mark.docker
def test_logs_and_stop_start_restart(runtime, http_image, network, unique_name):
    name = unique_name("life")
    info = runtime.run_container(spec(http_image["tag"], name, network))
    http_get(info.host_port)
    assert "GET / HTTP/1.1" in runtime.container_logs(name, tail=5)

    stopped = runtime.stop_container(name, timeout=1)
    assert stopped.status == "exited"
    assert stopped.exit_code is not None
    assert stopped.host_port is None

    started = runtime.start_container(name)
    assert started.status == "running"
    assert MARKER in http_get(started.host_port)

    restarted = runtime.restart_container(name, timeout=1)
    assert restarted.status == "running"
    assert MARKER in http_get(restarted.host_port)


@pytest.mark.docker
def test_list_by_labels_and_remove(runtime, http_image, network, unique_name):
    a = runtime.run_container(
        spec(http_image["tag"], unique_name("a"), network, labels={"butler.project": "A"})
    )
    b = runtime.run_container(
        spec(http_image["tag"], unique_name("b"), network, labels={"butler.project": "B"})
    )
    assert [c.id for c in runtime.list_containers({"butler.project": "A"})] == [a.id]
    assert {c.id for c in runtime.list_containers({})} >= {a.id, b.id}

    runtime.stop_container(b.id, timeout=1)
    assert [c.status for c in runtime.list_containers({"butler.project": "B"})] == ["exited"]

    assert runtime.remove_container(a.name) is True
    assert runtime.remove_container(a.name) is False
    with pytest.raises(ContainerNotFound):
        runtime.get_container(a.name)
    with pytest.raises(ContainerNotFound):
        runtime.container_logs(a.name)
    assert runtime.list_containers({"butler.project": "A"}) == []


@pytest.mark.docker
def test_a_container_that_cannot_start_is_removed(runtime, http_image, network, unique_name):
    name = unique_name("broken")
    with pytest.raises(RuntimeFailure, match="start container"):
        runtime.run_container(spec(http_image["tag"], name, network, command=["/no/such/binary"]))
    assert docker_inspect(name) is None


@pytest.mark.docker
def test_a_name_clash_is_a_clear_error(runtime, http_image, network, unique_name):
    name = unique_name("twice")
    runtime.run_container(spec(http_image["tag"], name, network))
    with pytest.raises(RuntimeFailure, match="already exists"):
        runtime.run_container(spec(http_image["tag"], name, network))


@pytest.mark.docker
def test_an_exited_container_reports_its_exit_code(runtime, http_image, network, unique_name):
    name = unique_name("exits")
    runtime.run_container(
        spec(http_image["tag"], name, network, command=["sh", "-c", "echo bye; exit 4"])
    )
    deadline = time.monotonic() + 20
    while (info := runtime.get_container(name)).exit_code != 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert info.exit_code == 4
    assert "bye" in runtime.container_logs(name)


@pytest.mark.docker
def test_nginx_starts_with_the_dropped_capabilities(runtime, network, unique_name):
    info = runtime.run_container(
        spec("nginx:alpine", unique_name("nginx"), network, container_port=80, env={})
    )
    assert "nginx" in http_get(info.host_port).lower()


# ---- networks ----


@pytest.mark.docker
def test_ensure_network_is_idempotent_under_concurrent_calls(runtime, unique_name):
    name = unique_name("race")
    errors: list[Exception] = []

    def ensure() -> None:
        try:
            runtime.ensure_network(name)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ensure) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runtime.ensure_network(name)
    assert errors == []
    same_name = docker_cli("network", "ls", "-q", "--filter", f"name=^{name}$").split()
    assert len(same_name) == 1
    assert name in runtime.list_networks()
    assert runtime.remove_network(name) is True
    assert runtime.remove_network(name) is False


# ---- isolation between Butler instances sharing an engine ----


@pytest.mark.docker
def test_another_instances_objects_are_invisible_and_untouchable(
    runtime, http_image, network, unique_name, tmp_path
):
    other_id = f"{settings.BUTLER_INSTANCE_ID}other"
    other_name = unique_name("theirs")
    other_net = unique_name("theirnet")
    other_tag = f"butler-test/{other_id}-img:1"
    try:
        with override_settings(BUTLER_INSTANCE_ID=other_id):
            runtime.ensure_network(other_net)
            build(runtime, write_context(tmp_path, "FROM python:3.11-slim\n"), other_tag)
            runtime.run_container(spec(http_image["tag"], other_name, other_net))
        mine = runtime.run_container(spec(http_image["tag"], unique_name("mine"), network))

        assert [c.id for c in runtime.list_containers({"butler.project": "rt-test"})] == [mine.id]
        assert other_net not in runtime.list_networks()
        assert network in runtime.list_networks()
        assert other_tag not in {t for i in runtime.list_images() for t in i.tags}
        with pytest.raises(ContainerNotFound):
            runtime.get_container(other_name)
        assert runtime.remove_container(other_name) is False
        assert runtime.remove_image(other_tag) is False
        assert runtime.remove_network(other_net) is False
        assert docker_inspect(other_name)["State"]["Running"] is True
        assert docker_inspect(other_tag) is not None
    finally:
        remove_instance_objects(other_id)


# ---- compose ----

COMPOSE_FILE = """\
services:
  web:
    build: .
    ports: ["8000"]
    environment:
      FROM_BUTLER_ENV: "${SECRET_KEY:-not-visible}"
      GIVEN: "${GIVEN_VALUE}"
    volumes: ["data:/data"]
volumes:
  data: {}
"""


@pytest.mark.docker
def test_compose_up_and_down(runtime, compose_project, tmp_path, monkeypatch):
    assert runtime.compose_available() in {"docker compose", "docker-compose"}
    monkeypatch.setenv("SECRET_KEY", "butler-own-secret-key")
    workdir = write_context(
        tmp_path / "repo",
        "FROM python:3.11-slim\nWORKDIR /srv\nCOPY index.html .\n"
        'CMD ["python", "-m", "http.server", "8000"]\n',
        **{"index.html": MARKER, "docker-compose.yml": COMPOSE_FILE},
    )
    lines: list[str] = []
    containers = runtime.compose_up(
        project_name=compose_project,
        workdir=workdir,
        compose_file="docker-compose.yml",
        env={"GIVEN_VALUE": "given-value-123"},
        on_output=lines.append,
        timeout=300,
    )
    [web] = containers
    assert web.labels["com.docker.compose.service"] == "web"
    assert web.labels["butler.instance"] == settings.BUTLER_INSTANCE_ID
    assert runtime.compose_containers(compose_project) == containers
    assert MARKER in http_get(web.host_port)
    env = dict(e.split("=", 1) for e in docker_inspect(web.id)["Config"]["Env"])
    assert env["FROM_BUTLER_ENV"] == "not-visible"  # Butler's own environment stayed out
    assert env["GIVEN"] == "given-value-123"
    assert "given-value-123" not in "\n".join(lines)
    built = runtime.list_images({"butler.compose.project": compose_project})
    assert len(built) == 1

    shutil.rmtree(workdir)  # down must not need the work dir
    runtime.compose_down(project_name=compose_project)
    project = f"label=com.docker.compose.project={compose_project}"
    assert docker_cli("ps", "-aq", "--filter", project).split() == []
    assert docker_cli("network", "ls", "-q", "--filter", project).split() == []
    assert docker_cli("volume", "ls", "-q", "--filter", project).split() == []
    assert runtime.list_images({"butler.compose.project": compose_project}) == []


@pytest.mark.docker
def test_compose_failure_carries_the_output_without_env_values(runtime, compose_project, tmp_path):
    workdir = write_context(
        tmp_path,
        'FROM python:3.11-slim\nARG V\nRUN echo "value is $V" && exit 7\n',
        **{
            "compose.yaml": "services:\n  app:\n    build:\n      context: .\n"
            "      args: {V: '${HIDDEN}'}\n"
        },
    )
    lines: list[str] = []
    with pytest.raises(ComposeFailed) as exc_info:
        runtime.compose_up(
            project_name=compose_project,
            workdir=workdir,
            compose_file="compose.yaml",
            env={"HIDDEN": "hidden-value-456"},
            on_output=lines.append,
            timeout=300,
        )
    error = exc_info.value
    assert "returned a non-zero code: 7" in error.output_tail
    assert "value is ****" in error.output_tail
    assert "hidden-value-456" not in error.output_tail + str(error) + "\n".join(lines)
    # The failed step's container and the build's untagged layer do not stay behind.
    leftovers = intermediate_containers(lines)
    assert leftovers
    assert all(docker_inspect(cid) is None for cid in leftovers)
    assert docker_inspect(committed_layers(lines)[-1]) is None


@pytest.mark.docker
def test_compose_refuses_a_file_without_services(runtime, compose_project, tmp_path):
    (tmp_path / "docker-compose.yml").write_text("web:\n  image: nginx:alpine\n")
    with pytest.raises(ComposeFailed, match="services"):
        runtime.compose_up(
            project_name=compose_project,
            workdir=tmp_path,
            compose_file="docker-compose.yml",
            env={},
            on_output=lambda line: None,
            timeout=60,
        )


@pytest.mark.django_db
def test_reconcile_removes_the_networks_a_gone_stack_left(runtime):
    """A crash between a stack's containers going and its networks going leaves a network
    labelled with a project that no longer exists: the reconcile takes it (and only it)."""
    from deployments.networks import compose_project_name
    from deployments.reconcile import remove_orphans

    stack = compose_project_name(987654)
    labels = [
        f"--label=com.docker.compose.project={stack}",
        "--label=com.docker.compose.network=default",
        "--label=butler.managed=true",
        f"--label=butler.instance={settings.BUTLER_INSTANCE_ID}",
        "--label=butler.project=987654",
    ]
    docker_cli("network", "create", *labels, f"{stack}_default")
    try:
        removed = remove_orphans(runtime)
        assert stack in removed["compose_projects"]
        assert docker_cli("network", "ls", "-q", "--filter", f"name={stack}_default") == ""
    finally:
        docker_cli("network", "rm", f"{stack}_default")

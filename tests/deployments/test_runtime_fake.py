"""The runtime seam without an engine: backend selection, the fake, the error messages."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from django.test import override_settings

from deployments.runtime import (
    BaseImageMissing,
    BuildFailed,
    ContainerNotFound,
    ContainerSpec,
    EngineUnavailable,
    Runtime,
    RuntimeFailure,
    get_runtime,
    reset_runtime,
)
from deployments.runtime.docker_engine import DockerRuntime
from deployments.runtime.fake import FakeRuntime


def build(runtime, context: Path, tag: str = "butler/app:1", dockerfile: str = "Dockerfile"):
    lines: list[str] = []
    image_id = runtime.build_image(
        context_dir=context,
        dockerfile=dockerfile,
        tag=tag,
        labels={"butler.project": "7"},
        buildargs=None,
        on_output=lines.append,
        timeout=60,
    )
    return image_id, lines


def spec(name: str = "app-1", image: str = "butler/app:1", **overrides) -> ContainerSpec:
    values = {
        "name": name,
        "image": image,
        "env": {"PORT": "8000", "API_TOKEN": "t0ps3cret"},
        "labels": {"butler.project": "7"},
        "container_port": 8000,
        "network": "devops-butler-net",
        "memory": "512m",
        "cpus": 1.0,
    }
    return ContainerSpec(**{**values, **overrides})


@pytest.fixture
def context(tmp_path) -> Path:
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim AS base\nCMD true\n")
    return tmp_path


# ---- choosing the backend ----


def test_get_runtime_builds_the_configured_backend_once_per_process(settings):
    settings.BUTLER_RUNTIME = "deployments.runtime.fake.FakeRuntime"
    reset_runtime()
    try:
        first = get_runtime()
        assert isinstance(first, FakeRuntime)
        assert get_runtime() is first
    finally:
        reset_runtime()


def test_the_default_backend_is_docker_and_does_not_connect_until_used(settings):
    settings.BUTLER_RUNTIME = "deployments.runtime.docker_engine.DockerRuntime"
    reset_runtime()
    try:
        runtime = get_runtime()
        assert isinstance(runtime, DockerRuntime)
        assert runtime._client is None
    finally:
        reset_runtime()


@pytest.mark.parametrize("backend", [DockerRuntime, FakeRuntime])
def test_both_backends_offer_the_same_verbs(backend):
    assert isinstance(backend(), Runtime)
    for name, member in inspect.getmembers(Runtime, inspect.isfunction):
        if name.startswith("_"):
            continue
        assert inspect.signature(getattr(backend, name)) == inspect.signature(member), name


# ---- the fake behaves like an engine ----


def test_build_run_inspect_stop_start_remove(fake_runtime, context):
    image_id, lines = build(fake_runtime, context)
    assert image_id.startswith("sha256:")
    assert lines
    assert fake_runtime.image_exists("butler/app:1")

    info = fake_runtime.run_container(spec())
    assert info.status == "running"
    assert info.host_port
    assert info.labels["butler.managed"] == "true"
    assert fake_runtime.container_env("app-1")["API_TOKEN"] == "t0ps3cret"
    assert [c.name for c in fake_runtime.list_containers({"butler.project": "7"})] == ["app-1"]

    assert fake_runtime.stop_container("app-1").status == "exited"
    assert fake_runtime.start_container("app-1").status == "running"
    assert fake_runtime.remove_container("app-1") is True
    assert fake_runtime.remove_container("app-1") is False
    with pytest.raises(ContainerNotFound):
        fake_runtime.get_container("app-1")


def test_scripted_failures(fake_runtime, context):
    fake_runtime.missing_images = {"python:3.11-slim"}
    with pytest.raises(BaseImageMissing) as exc_info:
        build(fake_runtime, context)
    assert exc_info.value.image == "python:3.11-slim"

    fake_runtime.missing_images = set()
    fake_runtime.fail_build_with = BuildFailed("RUN failed", log_tail="npm ERR!")
    with pytest.raises(BuildFailed, match="RUN failed"):
        build(fake_runtime, context)
    assert not fake_runtime.image_exists("butler/app:1")

    fake_runtime.fail_build_with = None
    build(fake_runtime, context)
    fake_runtime.container_exit_code = 1
    fake_runtime.logs_text = "line 1\nTraceback: boom\n"
    info = fake_runtime.run_container(spec())
    assert (info.status, info.exit_code, info.host_port) == ("exited", 1, None)
    assert fake_runtime.container_logs("app-1", tail=1) == "Traceback: boom\n"

    with pytest.raises(RuntimeFailure, match="does not exist"):
        fake_runtime.run_container(spec(name="other", image="butler/never-built:1"))

    fake_runtime.engine_down = True
    with pytest.raises(EngineUnavailable, match="Start Docker"):
        fake_runtime.list_containers()


def test_the_fake_keeps_instances_apart(fake_runtime, context):
    build(fake_runtime, context)
    fake_runtime.run_container(spec(name="mine"))
    with override_settings(BUTLER_INSTANCE_ID="someone-else"):
        assert fake_runtime.list_containers() == []
        assert fake_runtime.list_images() == []


def test_compose_up_and_down(fake_runtime, tmp_path):
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    fake_runtime.compose_services = ["api", "web"]
    containers = fake_runtime.compose_up(
        project_name="p1",
        workdir=tmp_path,
        compose_file="compose.yaml",
        env={},
        on_output=lambda line: None,
        timeout=60,
    )
    assert [c.labels["com.docker.compose.service"] for c in containers] == ["api", "web"]
    fake_runtime.compose_down(project_name="p1")
    assert fake_runtime.compose_containers("p1") == []


# ---- messages ----


def test_error_messages_say_what_to_do():
    assert str(EngineUnavailable("connection refused")) == (
        "The Docker Engine is not reachable (connection refused). Start Docker and try again."
    )
    message = str(BaseImageMissing("node:99-slim"))
    assert "'node:99-slim'" in message
    assert "docker pull node:99-slim" in message
    assert "BUTLER_NODE_IMAGE" in message


def test_a_spec_never_shows_env_values():
    assert "t0ps3cret" not in repr(spec())

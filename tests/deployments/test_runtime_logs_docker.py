"""A running container's own output on the real engine: followed, streams marked, a secret
masked, and the engine stream closed with the socket."""

from __future__ import annotations

import threading
import time

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from deployments.models import Deployment
from deployments.releases import ReleaseEnv, release_record
from deployments.runtime.base import ContainerSpec
from deployments.runtime.docker_engine import DockerRuntime
from tests.factories import ProjectFactory
from tests.live import messages_until_closed, next_message, socket

pytestmark = pytest.mark.docker

SECRET = "sk-live-0123456789"
# The value goes out in two writes with a pause between: two reads of the stream.
SCRIPT = (
    "echo ready; echo to-stderr >&2; "
    f"printf 'API_KEY={SECRET[:7]}'; sleep 0.5; echo '{SECRET[7:]} done'; "
    "while true; do sleep 1; done"
)


@pytest.fixture
def chatty(runtime: DockerRuntime, tmp_path, unique_name):
    """A container that prints a secret in two writes, then idles; its image and itself are
    removed by the `runtime` fixture."""
    (tmp_path / "Dockerfile").write_text(
        f'FROM debian:bookworm-slim\nCMD ["sh", "-c", "{SCRIPT}"]\n'
    )
    tag = f"butler-test/{unique_name('logs')}:1".lower()
    runtime.build_image(
        context_dir=tmp_path,
        dockerfile="Dockerfile",
        tag=tag,
        labels={"butler.project": "logs-test"},
        buildargs=None,
        on_output=lambda line: None,
        timeout=120,
    )
    runtime.ensure_network(settings.BUTLER_NETWORK)
    info = runtime.run_container(
        ContainerSpec(
            name=unique_name("chatty"),
            image=tag,
            env={"API_KEY": SECRET},
            labels={"butler.project": "logs-test"},
            container_port=8080,
            network=settings.BUTLER_NETWORK,
            memory="64m",
            cpus=0.5,
        )
    )
    return {"tag": tag, "info": info}


def test_follow_logs_marks_streams_and_stops_when_closed_from_another_thread(runtime, chatty):
    follow = runtime.follow_logs(chatty["info"].id, tail=10)
    chunks = []

    def read():
        for chunk in follow:
            chunks.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    deadline = time.monotonic() + 10
    while not any("done" in c.text for c in chunks) and time.monotonic() < deadline:
        time.sleep(0.05)
    follow.close()
    reader.join(timeout=5)
    assert not reader.is_alive(), "closing did not stop the engine stream"
    assert ("stdout", "ready\n") in [(c.stream, c.text) for c in chunks]
    assert ("stderr", "to-stderr\n") in [(c.stream, c.text) for c in chunks]
    assert all(c.time is not None for c in chunks)
    # Not masked here: the runtime hands over what the app printed; readers mask it.
    assert "".join(c.text for c in chunks if c.stream == "stdout").count(SECRET) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_socket_masks_the_secret_and_ends_when_the_container_stops(
    alice, runtime, chatty
):
    def make():
        project = ProjectFactory(owner=alice)
        deployment = Deployment.objects.create(
            project=project,
            number=1,
            trace_id="t",
            git_url=project.git_url,
            status="running",
            container_id=chatty["info"].id,
            container_name=chatty["info"].name,
        )
        release, _ = release_record(
            project=project,
            deployment=deployment,
            image_tag=chatty["tag"],
            image_id="",
            strategy="dockerfile",
            container_port=8080,
            environment=ReleaseEnv(env={"API_KEY": SECRET}, build_args={}),
        )
        Deployment.objects.filter(id=deployment.id).update(release=release)
        return project

    project = await sync_to_async(make)()
    communicator = socket(f"/ws/projects/{project.id}/logs/?tail=50", user=alice)
    assert (await communicator.connect())[0]
    lines = []
    deadline = time.monotonic() + 15
    while not any("done" in line["text"] for line in lines) and time.monotonic() < deadline:
        message = await next_message(communicator, timeout=15)
        lines += message["lines"]
    assert ("stdout", "API_KEY=**** done") in [(ln["stream"], ln["text"]) for ln in lines]
    assert ("stderr", "to-stderr") in [(ln["stream"], ln["text"]) for ln in lines]
    assert SECRET not in str(lines)
    await sync_to_async(runtime.stop_container)(chatty["info"].id, timeout=1)
    messages, code = await messages_until_closed(communicator, timeout=15)
    assert code == 1000
    assert messages[-1]["type"] == "end"
    assert "stopped" in messages[-1]["reason"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_closing_the_socket_ends_its_engine_stream(alice, runtime, chatty):
    def make():
        project = ProjectFactory(owner=alice)
        Deployment.objects.create(
            project=project,
            number=1,
            trace_id="t",
            git_url=project.git_url,
            status="running",
            container_id=chatty["info"].id,
        )
        return project

    project = await sync_to_async(make)()
    communicator = socket(f"/ws/projects/{project.id}/logs/", user=alice)
    assert (await communicator.connect())[0]
    await next_message(communicator, timeout=15)
    name = f"follow-{chatty['info'].id[:12]}"
    assert any(t.name == name for t in threading.enumerate())
    await communicator.disconnect()
    deadline = time.monotonic() + 5
    while any(t.name == name for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == name for t in threading.enumerate())

"""A running app's own output: `ws/projects/{id}/logs/` and `GET /api/projects/{id}/logs`,
on the fake runtime (the real engine: tests/deployments/test_runtime_logs_docker.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from deployments.models import Deployment
from deployments.releases import ReleaseEnv, release_record
from deployments.runtime.base import ContainerSpec
from projects.models import Project
from tests.factories import EnvironmentVariableFactory, ProjectFactory
from tests.live import eventually, messages_until_closed, next_message, socket

RELEASE_SECRET = "release-secret-1"
CURRENT_SECRET = "current-secret-2"


def run_app(fake, project, *, number=1, tmp: Path) -> Deployment:
    """A deployment of `project` that runs a fake container, with a release whose env holds
    RELEASE_SECRET."""
    tag = f"butler/{project.app_name}:{number}"
    fake.build_image(
        context_dir=tmp,
        dockerfile="Dockerfile",
        tag=tag,
        labels={},
        buildargs=None,
        on_output=lambda line: None,
        timeout=10,
        dockerfile_text="FROM scratch",
    )
    info = fake.run_container(
        ContainerSpec(
            name=f"{project.app_name}-{number}",
            image=tag,
            env={"API_KEY": RELEASE_SECRET},
            labels={"butler.project": str(project.id)},
            container_port=8080,
            network="net",
            memory="64m",
            cpus=0.5,
        )
    )
    deployment = Deployment.objects.create(
        project=project,
        number=number,
        trace_id="t",
        git_url=project.git_url,
        status="running",
        container_id=info.id,
        container_name=info.name,
    )
    release, _ = release_record(
        project=project,
        deployment=deployment,
        image_tag=tag,
        image_id=fake.image_id(tag),
        strategy="dockerfile",
        container_port=8080,
        environment=ReleaseEnv(env={"API_KEY": RELEASE_SECRET}, build_args={}),
    )
    Deployment.objects.filter(id=deployment.id).update(release=release)
    return deployment


@pytest.fixture
def app(alice, fake_runtime, tmp_path):
    project = ProjectFactory(owner=alice)
    EnvironmentVariableFactory(project=project, key="DB_PASSWORD", value=CURRENT_SECRET)
    deployment = run_app(fake_runtime, project, tmp=tmp_path)
    return {"project": project, "deployment": deployment, "fake": fake_runtime}


def lines_of(messages):
    return [line for m in messages if m["type"] == "log" for line in m["lines"]]


async def next_lines(communicator, count: int) -> list[dict]:
    """The next `count` lines, however many messages they come in."""
    found: list[dict] = []
    while len(found) < count:
        message = await next_message(communicator)
        assert message["type"] == "log", message
        found += message["lines"]
    return found


# ---- the WebSocket ----


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_it_sends_the_tail_then_follows_with_streams_marked_and_values_masked(alice, app):
    fake, container = app["fake"], app["deployment"].container_id
    for n in range(1, 4):
        fake.emit(container, f"old line {n}\n")
    communicator = socket(f"/ws/projects/{app['project'].id}/logs/?tail=2", user=alice)
    assert (await communicator.connect())[0]
    first = await next_lines(communicator, 2)
    assert [(line["stream"], line["text"]) for line in first] == [
        ("stdout", "old line 2"),
        ("stdout", "old line 3"),
    ]
    assert first[0]["time"]
    # A value split across two reads of the stream, and the project's current variable.
    fake.emit(container, "API_KEY=release-sec", stream="stderr")
    fake.emit(container, f"ret-1 and DB={CURRENT_SECRET}\n", stream="stderr")
    assert [(line["stream"], line["text"]) for line in await next_lines(communicator, 1)] == [
        ("stderr", "API_KEY=**** and DB=****")
    ]
    await sync_to_async(fake.stop_container)(container)
    messages, code = await messages_until_closed(communicator)
    assert code == 1000
    assert messages[-1]["type"] == "end"
    assert "stopped" in messages[-1]["reason"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_replaced_container_ends_the_stream_saying_so(alice, app, tmp_path):
    fake, project = app["fake"], app["project"]
    communicator = socket(f"/ws/projects/{project.id}/logs/", user=alice)
    assert (await communicator.connect())[0]

    async def following():
        return bool(getattr(fake, "follows", []))

    await eventually(following)

    def redeploy():
        old = app["deployment"]
        Deployment.objects.filter(id=old.id).update(status="superseded")
        run_app(fake, project, number=2, tmp=tmp_path)
        fake.remove_container(old.container_id)

    await sync_to_async(redeploy)()
    messages, code = await messages_until_closed(communicator)
    assert code == 1000
    assert messages[-1] == {
        "type": "end",
        "reason": f"The container of {project.app_name} was replaced by deployment #2: "
        "reconnect to follow the new one.",
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_with_nothing_running_it_says_so_and_closes(alice, fake_runtime):
    project = await sync_to_async(ProjectFactory)(owner=alice)
    communicator = socket(f"/ws/projects/{project.id}/logs/", user=alice)
    assert (await communicator.connect())[0]
    messages, code = await messages_until_closed(communicator)
    assert code == 1000
    assert messages == [
        {"type": "end", "reason": f"{project.app_name} has no running container: deploy it first."}
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_stopped_container_shows_its_last_lines_then_ends(alice, app):
    fake, container = app["fake"], app["deployment"].container_id
    fake.emit(container, "Traceback: it crashed\n", stream="stderr")
    await sync_to_async(fake.stop_container)(container)
    communicator = socket(f"/ws/projects/{app['project'].id}/logs/", user=alice)
    assert (await communicator.connect())[0]
    messages, code = await messages_until_closed(communicator)
    assert code == 1000
    assert [line["text"] for line in lines_of(messages)] == ["Traceback: it crashed"]
    assert messages[-1]["type"] == "end"
    assert messages[-1]["reason"].startswith(f"{app['project'].app_name} has no running container")


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_multi_repo_project_needs_the_component(alice, fake_runtime, tmp_path):
    def make():
        parent = ProjectFactory(owner=alice, git_url="split::https://x/fe.git|https://x/be.git")
        backend = ProjectFactory(
            owner=alice, parent=parent, component_type=Project.Component.BACKEND
        )
        run_app(fake_runtime, backend, tmp=tmp_path)
        return parent, backend

    parent, backend = await sync_to_async(make)()
    communicator = socket(f"/ws/projects/{parent.id}/logs/", user=alice)
    assert (await communicator.connect())[0]
    messages, _ = await messages_until_closed(communicator)
    assert messages == [
        {
            "type": "end",
            "reason": f"{parent.app_name} is a multi-repo project: choose ?component=frontend "
            "or ?component=backend.",
        }
    ]
    container = (await sync_to_async(Deployment.objects.get)(project=backend)).container_id
    fake_runtime.emit(container, "backend says hi\n")
    communicator = socket(f"/ws/projects/{parent.id}/logs/?component=backend", user=alice)
    assert (await communicator.connect())[0]
    assert [line["text"] for line in (await next_message(communicator))["lines"]] == [
        "backend says hi"
    ]
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_closing_the_socket_stops_the_engine_stream(alice, app):
    communicator = socket(f"/ws/projects/{app['project'].id}/logs/", user=alice)
    assert (await communicator.connect())[0]
    fake = app["fake"]

    async def following():
        follows = getattr(fake, "follows", [])
        return follows and not follows[-1].closed

    await eventually(following)
    await communicator.disconnect()

    async def stopped():
        return fake.follows[-1].closed

    await eventually(stopped, timeout=2)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_flood_is_paced_and_the_client_told_what_it_skipped(alice, app, settings):
    settings.BUTLER_WS_MAX_LINES_PER_SECOND = 200
    fake, container = app["fake"], app["deployment"].container_id
    communicator = socket(f"/ws/projects/{app['project'].id}/logs/?tail=0", user=alice)
    assert (await communicator.connect())[0]

    async def following():
        return bool(getattr(fake, "follows", []))

    await eventually(following)
    for n in range(5000):
        fake.emit(container, f"flood {n}\n")
    fake.emit(container, "the last line\n")
    await sync_to_async(fake.stop_container)(container)
    messages, code = await messages_until_closed(communicator, timeout=20)
    assert code == 1000
    sent = [line["text"] for line in lines_of(messages)]
    skipped = sum(m["count"] for m in messages if m["type"] == "skipped")
    assert skipped > 0
    assert len(sent) + skipped == 5001
    assert len(sent) <= 2 * 200 + 200  # about a second's worth, not the whole flood
    assert messages[-1]["type"] == "end"


# ---- GET /api/projects/{id}/logs ----


def test_the_api_gives_the_same_lines_masked(alice_client, app):
    fake, container = app["fake"], app["deployment"].container_id
    fake.emit(container, "Listening on 8080\n")
    fake.emit(container, f"oops {RELEASE_SECRET}\n", stream="stderr")
    answer = alice_client.get(f"/api/projects/{app['project'].id}/logs?tail=10")
    assert answer.status_code == 200
    body = answer.json()
    assert body["project_id"] == app["project"].id
    assert body["component"] is None
    assert body["container_name"] == app["deployment"].container_name
    assert [(line["stream"], line["text"]) for line in body["lines"]] == [
        ("stdout", "Listening on 8080"),
        ("stderr", "oops ****"),
    ]
    assert all(line["time"] for line in body["lines"])
    one = alice_client.get(f"/api/projects/{app['project'].id}/logs?tail=1").json()
    assert [line["text"] for line in one["lines"]] == ["oops ****"]


def test_the_api_takes_since_as_seconds_or_an_iso_time(alice_client, app):
    fake, container = app["fake"], app["deployment"].container_id
    fake.emit(container, "recent\n")
    base = f"/api/projects/{app['project'].id}/logs"
    assert [line["text"] for line in alice_client.get(f"{base}?since=60").json()["lines"]] == [
        "recent"
    ]
    assert alice_client.get(f"{base}?since=2999-01-01T00:00:00Z").json()["lines"] == []
    for bad in (
        "since=yesterday",
        "since=-5",
        "since=2026-13-45T00:00:00",
        "tail=lots",
        "tail=99999",
    ):
        answer = alice_client.get(f"{base}?{bad}")
        assert answer.status_code == 400, bad
        assert answer.json()["detail"]


def test_the_api_says_409_when_nothing_runs_and_404_for_another_user(
    alice, alice_client, bob_client, app
):
    assert bob_client.get(f"/api/projects/{app['project'].id}/logs").status_code == 404
    idle = ProjectFactory(owner=alice)
    answer = alice_client.get(f"/api/projects/{idle.id}/logs")
    assert answer.status_code == 409
    assert "has no running container" in answer.json()["detail"]


def test_the_schema_types_the_answer(alice_client):
    schema = alice_client.get("/api/schema?format=json").json()
    response = schema["paths"]["/api/projects/{project_id}/logs"]["get"]["responses"]["200"]
    ref = response["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/RuntimeLogs")
    fields = schema["components"]["schemas"]["RuntimeLogs"]["properties"]
    assert set(fields) == {"project_id", "component", "container_name", "lines"}


# ---- the engine's log stream format ----


def test_frames_split_anywhere_come_out_whole_with_their_stream_and_time():
    import struct

    from deployments.runtime.docker_logs import DockerLogFollow, parse_engine_time

    def frame(kind: int, text: str) -> bytes:
        payload = text.encode()
        return struct.pack(">BxxxL", kind, len(payload)) + payload

    data = frame(1, "2026-12-03T07:37:18.174396263Z hello\n") + frame(
        2, "2026-12-03T07:37:19Z oops\n"
    )
    buffer, chunks = bytearray(), []
    for n in range(0, len(data), 7):  # reads that cut headers and lines in pieces
        buffer += data[n : n + 7]
        chunks += list(DockerLogFollow._frames(buffer))
    assert [(c.stream, c.text) for c in chunks] == [("stdout", "hello\n"), ("stderr", "oops\n")]
    assert chunks[0].time.isoformat() == "2026-12-03T07:37:18.174396+00:00"
    assert chunks[1].time.isoformat() == "2026-12-03T07:37:19+00:00"
    assert parse_engine_time("2026-12-03T07:37:18.1Z").microsecond == 100000
    assert parse_engine_time("not a time") is None

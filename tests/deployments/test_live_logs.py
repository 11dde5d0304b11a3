"""Live deployment logs over WebSocket, through the real ASGI application."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from butler_site.asgi import application
from deployments.models import Deployment, LogLine
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def make_deployment(owner, status="running", lines=3) -> Deployment:
    project = ProjectFactory(owner=owner)
    deployment = Deployment.objects.create(
        project=project, number=1, trace_id="t", git_url=project.git_url, status=status
    )
    LogLine.objects.bulk_create(
        LogLine(deployment=deployment, seq=n, text=f"line {n}") for n in range(1, lines + 1)
    )
    return deployment


def connect(deployment_id: int, user=None) -> WebsocketCommunicator:
    query = f"?token={AccessToken.for_user(user)}" if user else ""
    return WebsocketCommunicator(
        application,
        f"/ws/deployments/{deployment_id}/{query}",
        headers=[(b"origin", b"http://localhost")],
    )


async def receive_until_closed(communicator) -> list[dict]:
    messages = []
    while True:
        output = await communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return messages
        if output["type"] == "websocket.send":
            messages.append(json.loads(output["text"]))


async def test_the_owner_gets_the_stored_lines_then_the_socket_closes(alice):
    deployment = await sync_to_async(make_deployment)(alice)
    communicator = connect(deployment.id, alice)
    connected, _ = await communicator.connect()
    assert connected
    messages = await receive_until_closed(communicator)
    assert messages[0] == {
        "type": "log",
        "lines": [
            {
                "seq": n,
                "time": messages[0]["lines"][n - 1]["time"],
                "stream": "system",
                "text": f"line {n}",
            }
            for n in (1, 2, 3)
        ],
    }
    assert messages[1] == {"type": "status", "status": "running"}


async def test_new_lines_and_the_final_status_arrive_live(alice):
    deployment = await sync_to_async(make_deployment)(alice, status="building", lines=1)
    communicator = connect(deployment.id, alice)
    assert (await communicator.connect())[0]
    first = await communicator.receive_json_from(timeout=5)
    assert [line["text"] for line in first["lines"]] == ["line 1"]
    assert await communicator.receive_json_from(timeout=5) == {
        "type": "status",
        "status": "building",
    }

    def progress():
        LogLine.objects.create(deployment=deployment, seq=2, stream="build", text="Step 2/5")
        Deployment.objects.filter(id=deployment.id).update(status="running")

    await sync_to_async(progress)()
    messages = await receive_until_closed(communicator)
    assert [line["text"] for line in messages[0]["lines"]] == ["Step 2/5"]
    assert messages[-1] == {"type": "status", "status": "running"}


async def test_another_users_deployment_is_refused(alice, bob):
    deployment = await sync_to_async(make_deployment)(alice)
    communicator = connect(deployment.id, bob)
    connected, code = await communicator.connect()
    assert not connected and code == 4404


async def test_anonymous_and_bad_tokens_are_refused(alice):
    deployment = await sync_to_async(make_deployment)(alice)
    connected, code = await connect(deployment.id).connect()
    assert not connected and code == 4404
    communicator = WebsocketCommunicator(
        application,
        f"/ws/deployments/{deployment.id}/?token=forged",
        headers=[(b"origin", b"http://localhost")],
    )
    connected, code = await communicator.connect()
    assert not connected and code == 4404

"""Who may open a WebSocket, for how long, and what the client may send: every auth case on
every stream, through the real ASGI application (Origin check included)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from accounts.services import user_change_password
from deployments.models import Deployment
from tests.conftest import PASSWORD
from tests.factories import ProjectFactory
from tests.live import (
    access_token,
    forged_token,
    messages_until_closed,
    nothing_arrives,
    open_then_closed,
    socket,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def alices(alice):
    """Alice's project and a deployment of it in progress (so its socket stays open)."""
    project = ProjectFactory(owner=alice)
    deployment = Deployment.objects.create(
        project=project, number=1, trace_id="t", git_url=project.git_url, status="building"
    )
    return {"project": project, "deployment": deployment}


def paths(alices) -> list[str]:
    return [
        "/ws/events/",
        "/ws/abc123",
        f"/ws/deployments/{alices['deployment'].id}/",
        f"/ws/projects/{alices['project'].id}/logs/",
    ]


@pytest.fixture
def session_cookie(alice):
    def make():
        client = Client()
        client.force_login(alice)
        return client, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())

    return make


async def test_no_credential_forged_expired_or_revoked_tokens_close_with_4401(alice, alices):
    expired = await sync_to_async(access_token)(alice, lifetime=-timedelta(seconds=5))
    revoked = await sync_to_async(access_token)(alice)

    def change_password():
        user_change_password(
            user=alice, current_password=PASSWORD, new_password="another-long-phrase-9"
        )

    await sync_to_async(change_password)()
    for path in paths(alices):
        assert await open_then_closed(socket(path)) == 4401, path
        for token in (forged_token(alice), expired, revoked, "not-a-token"):
            assert await open_then_closed(socket(path, token=token)) == 4401, (path, token)


async def test_another_users_or_a_missing_deployment_or_project_closes_with_4403(
    alice, bob, alices
):
    deployment, project = alices["deployment"], alices["project"]
    for theirs, missing in (
        (f"/ws/deployments/{deployment.id}/", "/ws/deployments/999999/"),
        (f"/ws/projects/{project.id}/logs/", "/ws/projects/999999/logs/"),
    ):
        refusals = []
        for path in (theirs, missing):
            communicator = socket(path, user=bob)
            assert (await communicator.connect())[0]
            refusals.append(await communicator.receive_output(timeout=5))
        assert refusals[0] == refusals[1]  # the same answer: nothing tells them apart
        assert refusals[0]["code"] == 4403


async def test_the_owner_gets_in_with_a_query_token_a_bearer_header_or_the_session(
    alice, alices, session_cookie
):
    _client, cookie = await sync_to_async(session_cookie)()
    bearer = (b"authorization", f"Bearer {await sync_to_async(access_token)(alice)}".encode())
    for path in ("/ws/events/", f"/ws/deployments/{alices['deployment'].id}/"):
        for communicator in (
            socket(path, user=alice),
            socket(path, headers=[bearer]),
            socket(path, headers=[bearer], origin=False),  # the CLI sends no Origin
            socket(path, headers=[cookie]),
        ):
            connected, _ = await communicator.connect()
            assert connected
            if "deployments" in path:
                first = await communicator.receive_json_from(timeout=5)
                assert first == {"type": "status", "status": "building"}
            else:
                assert await nothing_arrives(communicator, 0.2)
            await communicator.disconnect()


async def test_a_bad_token_is_refused_even_with_a_valid_session(alice, session_cookie):
    _client, cookie = await sync_to_async(session_cookie)()
    communicator = socket("/ws/events/", token="forged", headers=[cookie])
    assert await open_then_closed(communicator) == 4401


async def test_a_foreign_or_missing_origin_is_refused_at_the_handshake(alice):
    foreign = socket(
        "/ws/events/", user=alice, origin=False, headers=[(b"origin", b"http://evil.example")]
    )
    assert (await foreign.connect())[0] is False
    # Without an Origin only a bearer header may sign in (a browser always sends one).
    no_origin = socket("/ws/events/", user=alice, origin=False)
    assert (await no_origin.connect())[0] is False


async def test_the_socket_closes_when_its_token_expires(alice):
    token = await sync_to_async(access_token)(alice, lifetime=timedelta(seconds=1))
    communicator = socket("/ws/events/", token=token)
    assert (await communicator.connect())[0]
    messages, code = await messages_until_closed(communicator, timeout=5)
    assert (messages, code) == ([], 4401)


async def test_a_password_change_closes_sockets_signed_in_before_it(alice):
    communicator = socket("/ws/events/", user=alice)
    assert (await communicator.connect())[0]
    assert await nothing_arrives(communicator, 0.3)

    def change_password():
        user_change_password(
            user=alice, current_password=PASSWORD, new_password="another-long-phrase-9"
        )

    await sync_to_async(change_password)()
    _messages, code = await messages_until_closed(communicator, timeout=5)
    assert code == 4401


async def test_logging_out_closes_the_sockets_of_that_session(alice, session_cookie):
    client, cookie = await sync_to_async(session_cookie)()
    _other, other_cookie = await sync_to_async(session_cookie)()
    mine, theirs = (
        socket("/ws/events/", headers=[cookie]),
        socket("/ws/events/", headers=[other_cookie]),
    )
    for communicator in (mine, theirs):
        assert (await communicator.connect())[0]
    await sync_to_async(client.logout)()
    _messages, code = await messages_until_closed(mine, timeout=5)
    assert code == 4401
    assert await nothing_arrives(theirs, 0.5)  # another session of the same user stays
    await theirs.disconnect()


@pytest.mark.parametrize("abuse", ["large", "fast"])
async def test_a_client_that_sends_too_much_is_closed_with_1008(alice, abuse):
    communicator = socket("/ws/events/", user=alice)
    assert (await communicator.connect())[0]
    if abuse == "large":
        await communicator.send_to(text_data="x" * 4097)
    else:
        for n in range(11):
            await communicator.send_to(text_data=f"ping {n}")
    _messages, code = await messages_until_closed(communicator, timeout=5)
    assert code == 1008


async def test_a_few_small_messages_are_fine(alice):
    communicator = socket("/ws/events/", user=alice)
    assert (await communicator.connect())[0]
    for n in range(5):
        await communicator.send_to(text_data="x" * 4000 if n == 0 else "ping")
    assert await nothing_arrives(communicator, 0.5)
    await communicator.disconnect()

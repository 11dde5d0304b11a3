"""`ws/events/`: the signed-in user's events, only theirs, as `Event.as_message()`; and the
embedded fan-out's cost, which must not grow with the number of sockets."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from core import events
from deployments import queue
from deployments.live.hub import get_hub
from deployments.models import Deployment
from deployments.pipeline.logs import DeploymentLog
from deployments.transitions import deployment_move
from projects.services import project_delete
from tests.factories import ProjectFactory
from tests.live import eventually, next_message, nothing_arrives, socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def no_workers(monkeypatch):
    monkeypatch.setattr(queue, "_enqueue", lambda deployment_id: None)


def make_deployment(owner, status="queued") -> Deployment:
    project = ProjectFactory(owner=owner)
    return Deployment.objects.create(
        project=project, number=1, trace_id="t", git_url=project.git_url, status=status
    )


async def test_the_user_gets_status_changes_and_deletions_as_published(alice, fake_runtime):
    deployment = await sync_to_async(make_deployment)(alice)
    project = deployment.project
    communicator = socket("/ws/events/", user=alice)
    assert (await communicator.connect())[0]
    seen = []
    unsubscribe = events.subscribe(seen.append)
    try:
        await sync_to_async(deployment_move)(deployment, "cloning")
        first = await next_message(communicator)
        second = await next_message(communicator)
        await sync_to_async(project_delete)(project=project)
        received = [first, second]
        while received[-1]["type"] != "project.deleted":
            received.append(await next_message(communicator))
    finally:
        unsubscribe()
    assert received == [event.as_message() for event in seen]
    third = received[-1]
    assert first == {
        "type": "deployment.status",
        "deployment_id": deployment.id,
        "project_id": project.id,
        "parent_id": None,
        "component_type": None,
        "app_name": project.app_name,
        "number": 1,
        "status": "cloning",
        "previous": "queued",
        "error": "",
    }
    assert second == {
        "type": "project.status",
        "project_id": project.id,
        "parent_id": None,
        "app_name": project.app_name,
        "status": "deploying",
        "previous": "imported",
        "deployed_url": "",
    }
    assert third == {
        "type": "project.deleted",
        "project_id": project.id,
        "app_name": project.app_name,
        "component_ids": [],
    }
    await communicator.disconnect()


async def test_the_original_apis_client_id_path_is_the_same_stream(alice):
    deployment = await sync_to_async(make_deployment)(alice)
    communicator = socket("/ws/abc123", user=alice)
    assert (await communicator.connect())[0]
    await sync_to_async(deployment_move)(deployment, "cloning")
    assert (await next_message(communicator))["type"] == "deployment.status"
    await communicator.disconnect()


async def test_nobody_gets_another_users_events(alice, bob):
    deployment = await sync_to_async(make_deployment)(alice)
    bobs = socket("/ws/events/", user=bob)
    alices = socket("/ws/events/", user=alice)
    for communicator in (bobs, alices):
        assert (await communicator.connect())[0]
    await sync_to_async(deployment_move)(deployment, "cloning")
    assert (await next_message(alices))["status"] == "cloning"
    assert await nothing_arrives(bobs, 0.5)
    for communicator in (bobs, alices):
        await communicator.disconnect()


async def test_log_batches_do_not_reach_the_events_stream(alice):
    deployment = await sync_to_async(make_deployment)(alice, status="building")
    communicator = socket("/ws/events/", user=alice)
    assert (await communicator.connect())[0]

    def log():
        DeploymentLog(Deployment.objects.select_related("project").get(id=deployment.id)).info(
            "Building"
        )

    await sync_to_async(log)()
    assert await nothing_arrives(communicator, 0.5)
    await communicator.disconnect()


async def test_one_database_poll_per_interval_serves_every_socket(alice, settings):
    settings.BUTLER_EVENTS_POLL_SECONDS = 0.1
    sockets = [socket("/ws/events/", user=alice) for _ in range(60)]
    for communicator in sockets:
        assert (await communicator.connect())[0]
    hub = get_hub()

    async def all_subscribed():
        return hub.sockets == 60

    await eventually(all_subscribed)
    before = hub.polls
    await asyncio.sleep(1.0)
    polls = hub.polls - before
    assert 5 <= polls <= 11  # ~1 s / 0.1 s: for all 60 sockets, not per socket
    deployment = await sync_to_async(make_deployment)(alice)
    await sync_to_async(deployment_move)(deployment, "cloning")
    for communicator in sockets:
        assert (await next_message(communicator))["status"] == "cloning"
    for communicator in sockets:
        await communicator.disconnect()
    assert hub.sockets == 0


async def test_the_reader_survives_a_failed_poll(alice, monkeypatch):
    from deployments.live import hub as hub_module

    monkeypatch.setattr(hub_module, "RETRY_SECONDS", 0.05)
    real = events.outbox_read
    failures = []

    def flaky(**kwargs):
        if not failures:
            failures.append(1)
            raise RuntimeError("database is locked")
        return real(**kwargs)

    monkeypatch.setattr(events, "outbox_read", flaky)
    deployment = await sync_to_async(make_deployment)(alice)
    communicator = socket("/ws/events/", user=alice)
    assert (await communicator.connect())[0]
    await sync_to_async(deployment_move)(deployment, "cloning")
    assert (await next_message(communicator))["status"] == "cloning"
    assert failures == [1]
    await communicator.disconnect()


async def test_a_rolled_back_change_sends_nothing(alice):
    deployment = await sync_to_async(make_deployment)(alice)
    communicator = socket("/ws/events/", user=alice)
    assert (await communicator.connect())[0]

    def move_then_fail():
        from django.db import transaction

        with pytest.raises(RuntimeError), transaction.atomic():
            deployment_move(deployment, "cloning")
            raise RuntimeError("rolled back")

    await sync_to_async(move_then_fail)()
    assert await nothing_arrives(communicator, 0.5)
    await communicator.disconnect()


@pytest.mark.usefixtures("redis_layer")
async def test_with_redis_the_channel_layer_carries_the_events(alice, bob):
    deployment = await sync_to_async(make_deployment)(alice)
    alices, bobs = socket("/ws/events/", user=alice), socket("/ws/events/", user=bob)
    for communicator in (alices, bobs):
        assert (await communicator.connect())[0]
    await sync_to_async(deployment_move)(deployment, "cloning")
    assert (await next_message(alices))["status"] == "cloning"
    assert await nothing_arrives(bobs, 0.5)
    assert get_hub().sockets == 0  # no outbox reader with Redis
    from core.models import OutboxEvent

    assert not await sync_to_async(OutboxEvent.objects.exists)()
    for communicator in (alices, bobs):
        await communicator.disconnect()

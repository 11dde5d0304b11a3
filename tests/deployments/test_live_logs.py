"""`ws/deployments/{id}/`: the stored lines, then lines and status changes as the worker
writes them, a close once the log is complete; resuming, and what a slow client is told."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from core import events
from deployments import queue
from deployments.models import Deployment, LogLine
from deployments.pipeline.logs import DeploymentLog, deployment_log_closed
from deployments.transitions import deployment_move
from projects.services import project_delete
from tests.factories import ProjectFactory
from tests.live import messages_until_closed, next_message, nothing_arrives, socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def no_workers(monkeypatch):
    monkeypatch.setattr(queue, "_enqueue", lambda deployment_id: None)


def make_deployment(
    owner, status="running", lines=3, finished_ago: float | None = 60
) -> Deployment:
    project = ProjectFactory(owner=owner)
    now = timezone.now()
    deployment = Deployment.objects.create(
        project=project,
        number=1,
        trace_id="t",
        git_url=project.git_url,
        status=status,
        started_at=now - timedelta(seconds=120),
        finished_at=None if finished_ago is None else now - timedelta(seconds=finished_ago),
    )
    LogLine.objects.bulk_create(
        LogLine(deployment=deployment, seq=n, text=f"line {n}") for n in range(1, lines + 1)
    )
    return deployment


def log_of(deployment_id: int) -> DeploymentLog:
    return DeploymentLog(Deployment.objects.select_related("project").get(id=deployment_id))


def texts(messages: list[dict]) -> list[str]:
    return [line["text"] for m in messages if m["type"] == "log" for line in m["lines"]]


async def test_the_owner_gets_the_stored_lines_the_status_then_a_normal_close(alice):
    deployment = await sync_to_async(make_deployment)(alice)
    communicator = socket(f"/ws/deployments/{deployment.id}/", user=alice)
    assert (await communicator.connect())[0]
    messages, code = await messages_until_closed(communicator)
    assert code == 1000
    first = messages[0]
    assert first == {
        "type": "log",
        "lines": [
            {
                "seq": n,
                "time": first["lines"][n - 1]["time"],
                "stream": "system",
                "text": f"line {n}",
            }
            for n in (1, 2, 3)
        ],
    }
    assert messages[1:] == [{"type": "status", "status": "running"}]


async def test_lines_and_statuses_arrive_as_the_worker_writes_them(alice):
    deployment = await sync_to_async(make_deployment)(
        alice, status="building", lines=1, finished_ago=None
    )
    communicator = socket(f"/ws/deployments/{deployment.id}/", user=alice)
    assert (await communicator.connect())[0]
    assert texts([await next_message(communicator)]) == ["line 1"]
    assert await next_message(communicator) == {"type": "status", "status": "building"}
    log = await sync_to_async(log_of)(deployment.id)

    await sync_to_async(log.build)("Step 2/5 : RUN pip install")  # stored by the flusher
    message = await next_message(communicator, timeout=2)
    assert message["type"] == "log"
    assert [(line["seq"], line["stream"], line["text"]) for line in message["lines"]] == [
        (2, "build", "Step 2/5 : RUN pip install")
    ]

    def finish():
        deployment.refresh_from_db()
        deployment_move(deployment, "starting")
        log.info("Starting the container")
        deployment_move(deployment, "running")
        log.info("Deployment successful!")  # after the status: the socket waits for it

    await sync_to_async(finish)()
    assert await next_message(communicator) == {"type": "status", "status": "starting"}
    assert texts([await next_message(communicator)]) == ["Starting the container"]
    assert await next_message(communicator) == {"type": "status", "status": "running"}
    assert texts([await next_message(communicator)]) == ["Deployment successful!"]
    assert await nothing_arrives(communicator, 0.3)  # the worker has not said it is done
    await sync_to_async(deployment_log_closed)(deployment_id=deployment.id)
    messages, code = await messages_until_closed(communicator)
    assert (messages, code) == ([], 1000)


async def test_resuming_after_a_seq_sends_no_line_twice(alice):
    deployment = await sync_to_async(make_deployment)(
        alice, status="building", lines=5, finished_ago=None
    )
    communicator = socket(f"/ws/deployments/{deployment.id}/?after=3", user=alice)
    assert (await communicator.connect())[0]
    assert texts([await next_message(communicator)]) == ["line 4", "line 5"]
    assert (await next_message(communicator))["type"] == "status"
    log = await sync_to_async(log_of)(deployment.id)
    await sync_to_async(log.info)("line 6")
    assert texts([await next_message(communicator)]) == ["line 6"]
    await communicator.disconnect()


async def test_a_client_that_cannot_keep_up_is_told_how_many_lines_it_skipped(alice, settings):
    settings.BUTLER_WS_MAX_LINES_PER_SECOND = 200
    deployment = await sync_to_async(make_deployment)(
        alice, status="building", lines=0, finished_ago=None
    )
    communicator = socket(f"/ws/deployments/{deployment.id}/", user=alice)
    assert (await communicator.connect())[0]
    assert await next_message(communicator) == {"type": "status", "status": "building"}

    def flood():
        log = log_of(deployment.id)
        for n in range(1, 3001):
            log.build(f"flood {n}")
        log.info("done")
        deployment.refresh_from_db()
        deployment_move(deployment, "failed", error="boom")
        deployment_log_closed(deployment_id=deployment.id)

    await sync_to_async(flood)()
    messages, code = await messages_until_closed(communicator, timeout=20)
    assert code == 1000
    seqs = [line["seq"] for m in messages if m["type"] == "log" for line in m["lines"]]
    skipped = sum(m["count"] for m in messages if m["type"] == "skipped")
    assert skipped > 0
    assert seqs == sorted(set(seqs))  # in order, never twice
    assert len(seqs) + skipped == 3001  # every line either sent or counted
    assert texts(messages)[-1] == "done"  # the newest lines always make it
    assert messages[-1] == {"type": "status", "status": "failed"}


async def test_lines_an_event_does_not_carry_are_read_back(alice):
    deployment = await sync_to_async(make_deployment)(
        alice, status="building", lines=1, finished_ago=None
    )
    communicator = socket(f"/ws/deployments/{deployment.id}/", user=alice)
    assert (await communicator.connect())[0]
    await next_message(communicator)
    await next_message(communicator)

    def stored_without_an_event_then_one_more():
        LogLine.objects.bulk_create(
            LogLine(deployment=deployment, seq=n, text=f"line {n}") for n in (2, 3)
        )
        log_of(deployment.id).info("line 4")

    await sync_to_async(stored_without_an_event_then_one_more)()
    assert texts([await next_message(communicator)]) == ["line 2", "line 3", "line 4"]
    await communicator.disconnect()


async def test_a_deployment_that_never_ran_closes_at_once(alice):
    deployment = await sync_to_async(make_deployment)(alice, status="cancelled", lines=0)

    def never_started():
        Deployment.objects.filter(id=deployment.id).update(started_at=None)

    await sync_to_async(never_started)()
    communicator = socket(f"/ws/deployments/{deployment.id}/", user=alice)
    assert (await communicator.connect())[0]
    messages, code = await messages_until_closed(communicator, timeout=2)
    assert (messages, code) == ([{"type": "status", "status": "cancelled"}], 1000)


async def test_a_deployment_whose_worker_vanished_closes_after_a_grace(alice, monkeypatch):
    from deployments.live import consumers

    monkeypatch.setattr(consumers, "LOG_END_GRACE_SECONDS", 0.5)
    deployment = await sync_to_async(make_deployment)(
        alice, status="building", lines=0, finished_ago=None
    )
    communicator = socket(f"/ws/deployments/{deployment.id}/", user=alice)
    assert (await communicator.connect())[0]
    await next_message(communicator)

    def reconcile_fails_it():
        deployment.refresh_from_db()
        deployment_move(deployment, "failed", error="The worker stopped")
        log_of(deployment.id).error("The worker stopped")

    await sync_to_async(reconcile_fails_it)()
    messages, code = await messages_until_closed(communicator, timeout=3)
    assert code == 1000
    assert {"type": "status", "status": "failed"} in messages
    assert texts(messages) == ["The worker stopped"]


async def test_the_socket_closes_when_the_project_is_deleted(alice, fake_runtime):
    deployment = await sync_to_async(make_deployment)(
        alice, status="building", lines=0, finished_ago=None
    )
    communicator = socket(f"/ws/deployments/{deployment.id}/", user=alice)
    assert (await communicator.connect())[0]
    await next_message(communicator)
    project = deployment.project
    await sync_to_async(project_delete)(project=project)
    _messages, code = await messages_until_closed(communicator, timeout=5)
    assert code == 1000


@pytest.mark.usefixtures("redis_layer")
async def test_with_redis_lines_and_statuses_come_through_the_channel_layer(alice):
    deployment = await sync_to_async(make_deployment)(
        alice, status="building", lines=1, finished_ago=None
    )
    communicator = socket(f"/ws/deployments/{deployment.id}/", user=alice)
    assert (await communicator.connect())[0]
    assert texts([await next_message(communicator)]) == ["line 1"]
    await next_message(communicator)

    def work():
        log = log_of(deployment.id)
        log.info("line 2")
        deployment.refresh_from_db()
        deployment_move(deployment, "failed", error="boom")
        deployment_log_closed(deployment_id=deployment.id)

    seen = []
    unsubscribe = events.subscribe(seen.append)
    try:
        await sync_to_async(work)()
    finally:
        unsubscribe()
    messages, code = await messages_until_closed(communicator)
    assert code == 1000
    assert texts(messages) == ["line 2"]
    assert {"type": "status", "status": "failed"} in messages
    assert any(e.type == "deployment.log" and e.data["lines"] for e in seen)

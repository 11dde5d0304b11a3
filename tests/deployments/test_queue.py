"""The deploy queue: rows wait, workers never do; one per project; fair between users."""

from __future__ import annotations

import pytest

from deployments import queue, services
from deployments.models import Deployment
from deployments.transitions import deployment_claim, deployment_move
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def handed(monkeypatch, settings):
    """What the queue hands to workers (nothing runs); two workers, one deploy per user."""
    settings.BUTLER_WORKERS = 2
    settings.BUTLER_MAX_ACTIVE_PER_USER = 1
    got: list[int] = []
    monkeypatch.setattr(queue, "_enqueue", got.append)
    return got


def request(project) -> Deployment:
    return services.deployment_create(project=project, trace_id=services.new_trace_id())


def claim(deployment: Deployment) -> Deployment:
    """What the worker does first with a deployment handed to it."""
    return deployment_claim(deployment.id, worker="test:1")


def finish(deployment: Deployment, status: str = "failed") -> None:
    current = Deployment.objects.get(id=deployment.id)
    if current.status == "queued":
        current = claim(current)
    deployment_move(current, status)


class TestOnePerProject:
    def test_the_next_of_a_project_waits_as_a_row_until_the_first_ends(self, alice, handed):
        project = ProjectFactory(owner=alice)
        first = request(project)
        assert handed == [first.id]
        claim(first)
        second = request(project)
        assert handed == [first.id]  # no worker holds it while it waits
        place = queue.queue_place(Deployment.objects.get(id=second.id))
        assert place.waiting_for == f"deployment #{first.number} of {project.app_name} to finish"
        finish(first)
        assert handed == [first.id, second.id]

    def test_a_newer_request_supersedes_the_queued_ones(self, alice, handed):
        project = ProjectFactory(owner=alice)
        running = request(project)
        claim(running)
        waiting = [request(project) for _ in range(3)]
        statuses = dict(Deployment.objects.values_list("id", "status"))
        assert statuses[running.id] == "cloning"
        assert [statuses[d.id] for d in waiting] == ["cancelled", "cancelled", "queued"]
        superseded = Deployment.objects.get(id=waiting[0].id)
        assert (
            superseded.error
            == f"Superseded by deployment #{waiting[1].number}, requested after it."
        )
        finish(running)
        assert handed == [running.id, waiting[-1].id]

    def test_one_handed_over_but_not_yet_started_is_superseded_too(self, alice, handed):
        project = ProjectFactory(owner=alice)
        first = request(project)
        second = request(project)
        assert Deployment.objects.get(id=first.id).status == "cancelled"
        assert handed == [first.id, second.id]
        assert claim(first) is None  # its task finds nothing to do

    def test_a_frontend_waits_for_its_backend(self, alice, handed):
        parent = ProjectFactory(owner=alice, git_url="split::https://h/a/fe|https://h/a/be")
        backend = ProjectFactory(owner=alice, parent=parent, component_type="backend")
        frontend = ProjectFactory(owner=alice, parent=parent, component_type="frontend")
        b = request(backend)
        f = services.deployment_create(project=frontend, trace_id="t", after=b)
        assert handed == [b.id]
        place = queue.queue_place(Deployment.objects.get(id=f.id))
        assert place.waiting_for == f"the backend's deployment #{b.number}"
        finish(b)
        assert handed == [b.id, f.id]


class TestFairness:
    def test_one_users_burst_never_takes_every_worker(self, alice, bob, handed):
        alices = [request(ProjectFactory(owner=alice)) for _ in range(5)]
        assert handed == [alices[0].id]  # one of hers at a time (the cap)
        place = queue.queue_place(Deployment.objects.get(id=alices[1].id))
        assert "your other deployments" in place.waiting_for
        bobs = request(ProjectFactory(owner=bob))
        assert handed == [alices[0].id, bobs.id]  # the second worker is his at once

    def test_a_free_worker_goes_to_the_user_with_fewest_running(self, settings, handed):
        settings.BUTLER_MAX_ACTIVE_PER_USER = 2
        ann, ben = UserFactory(), UserFactory()
        a1, a2, a3 = (request(ProjectFactory(owner=ann)) for _ in range(3))
        assert handed == [a1.id, a2.id]  # both workers, she is alone
        b1 = request(ProjectFactory(owner=ben))
        assert handed == [a1.id, a2.id]  # no free worker
        finish(a1)
        assert handed == [a1.id, a2.id, b1.id]  # ben had none running, ann had one
        finish(a2)
        assert handed[-1] == a3.id

    def test_no_more_are_handed_over_than_there_are_workers(self, settings, handed):
        settings.BUTLER_MAX_ACTIVE_PER_USER = 10
        users = [UserFactory() for _ in range(4)]
        for user in users:
            request(ProjectFactory(owner=user))
        assert len(handed) == 2
        assert queue.queue_place(Deployment.objects.order_by("-id").first()).position == 2


def test_cancelling_a_queued_deployment_ends_it_at_once(alice, handed):
    project = ProjectFactory(owner=alice)
    first = request(project)
    claim(first)
    second = request(project)
    cancelled = services.deployment_cancel(deployment=second, by="alice")
    assert cancelled.status == "cancelled" and cancelled.error == "Cancelled by alice."
    assert handed == [first.id]


def test_a_task_that_runs_twice_or_late_does_nothing(alice, handed):
    from deployments.pipeline.execute import run_deployment

    project = ProjectFactory(owner=alice)
    deployment = request(project)
    claimed = deployment_claim(deployment.id, worker="test:1")
    assert claimed is not None
    assert run_deployment(deployment.id) is None  # already claimed by another worker
    assert Deployment.objects.get(id=deployment.id).claimed_by == "test:1"

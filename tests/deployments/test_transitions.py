"""The transition service: every allowed move, every forbidden one, the derived project
status, and events published only after the commit."""

from __future__ import annotations

import itertools

import pytest
from django.db import transaction

from core import events
from deployments import queue, transitions
from deployments.models import Deployment
from deployments.transitions import ALLOWED, TransitionRefused, deployment_move
from projects.models import Project
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)

S = Deployment.Status

# Every move the engine makes, written out once more by hand: a change to ALLOWED must be a
# change to this table too.
EXPECTED = {
    ("queued", "cloning"),  # a worker claims it for a build
    ("queued", "starting"),  # a worker claims a rollback: no clone, no build
    ("queued", "cancelled"),  # cancelled, superseded by a newer request, project deleted
    ("queued", "failed"),
    ("cloning", "building"),
    ("cloning", "failed"),
    ("cloning", "cancelled"),
    ("building", "starting"),
    ("building", "failed"),
    ("building", "cancelled"),
    ("starting", "running"),
    ("starting", "failed"),
    ("starting", "cancelled"),
    ("running", "superseded"),
}


@pytest.fixture(autouse=True)
def no_workers(monkeypatch):
    monkeypatch.setattr(queue, "_enqueue", lambda deployment_id: None)


@pytest.fixture
def seen():
    got: list[events.Event] = []
    unsubscribe = events.subscribe(got.append)
    yield got
    unsubscribe()


def make(project, status: str, number: int = 1) -> Deployment:
    return Deployment.objects.create(
        project=project, number=number, trace_id="t", git_url=project.git_url, status=status
    )


def test_the_table_is_exactly_the_moves_the_engine_makes():
    allowed = {(a, b) for a, targets in ALLOWED.items() for b in targets}
    assert allowed == EXPECTED
    assert set(ALLOWED) == set(S.values)


@pytest.mark.parametrize(("start", "to"), sorted(EXPECTED))
def test_an_allowed_move_happens_and_is_stamped(alice, start, to):
    deployment = make(ProjectFactory(owner=alice), start)
    deployment_move(deployment, to)
    deployment.refresh_from_db()
    assert deployment.status == to
    if start == "queued":  # started when claimed, not when cancelled in the queue
        assert (deployment.started_at is not None) == (to in {"cloning", "starting"})
    if to in {"running", "failed", "cancelled", "superseded"}:
        assert deployment.finished_at is not None


FORBIDDEN = sorted(set(itertools.product(S.values, S.values)) - EXPECTED)


@pytest.mark.parametrize(("start", "to"), FORBIDDEN)
def test_a_forbidden_move_is_refused_and_changes_nothing(alice, start, to):
    deployment = make(ProjectFactory(owner=alice), start)
    with pytest.raises(TransitionRefused):
        deployment_move(deployment, to)
    deployment.refresh_from_db()
    assert deployment.status == start


def test_the_move_is_a_compare_and_set_on_the_stored_status(alice):
    deployment = make(ProjectFactory(owner=alice), "building")
    stale = Deployment.objects.get(id=deployment.id)
    deployment_move(deployment, "cancelled")  # e.g. the user cancels
    with pytest.raises(TransitionRefused) as refused:
        deployment_move(stale, "starting")  # the worker, a moment late
    assert refused.value.current == "cancelled"
    assert stale.status == "cancelled"


def test_moving_a_deleted_deployment_says_it_is_gone(alice):
    deployment = make(ProjectFactory(owner=alice), "building")
    Deployment.objects.filter(id=deployment.id).delete()
    with pytest.raises(TransitionRefused) as refused:
        deployment_move(deployment, "starting")
    assert refused.value.current is None


def test_running_supersedes_the_previous_one_and_updates_the_project(alice, seen):
    project = ProjectFactory(owner=alice)
    old = make(project, "running", 1)
    new = make(project, "starting", 2)
    deployment_move(
        new, "running", project_fields={"deployed_url": "http://x:1", "container_name": "c"}
    )
    old.refresh_from_db()
    project.refresh_from_db()
    assert old.status == "superseded"
    assert (project.status, project.deployed_url, project.container_name) == (
        "running",
        "http://x:1",
        "c",
    )
    moves = [
        (e.data["deployment_id"], e.data["status"]) for e in seen if e.type == "deployment.status"
    ]
    assert (new.id, "running") in moves and (old.id, "superseded") in moves
    assert any(e.type == "project.status" and e.data["deployed_url"] == "http://x:1" for e in seen)
    assert all(e.user_id == alice.id for e in seen)


def test_events_wait_for_the_commit_and_vanish_with_a_rollback(alice, seen):
    deployment = make(ProjectFactory(owner=alice), "queued")
    with pytest.raises(RuntimeError), transaction.atomic():
        deployment_move(deployment, "cloning")
        assert seen == []  # not before the commit
        raise RuntimeError("the transaction fails")
    assert seen == []
    deployment.refresh_from_db()
    assert deployment.status == "queued"
    deployment_move(deployment, "cloning")
    assert [e.data["status"] for e in seen if e.type == "deployment.status"] == ["cloning"]


class TestProjectStatus:
    @pytest.mark.parametrize(
        ("statuses", "state", "expected"),
        [
            ([], "", "imported"),
            (["queued"], "", "queued"),
            (["building"], "", "deploying"),
            (["failed"], "", "failed"),
            (["cancelled"], "", "imported"),
            (["failed", "cancelled"], "", "failed"),
            (["running"], "", "running"),
            (["running", "building"], "", "running"),  # serving while a redeploy builds
            (["running", "failed"], "", "running"),  # a failed redeploy keeps it running
            (["running"], "stopped", "stopped"),
            (["running"], "missing", "missing"),
            (["running", "queued"], "stopped", "queued"),
            (["superseded", "failed"], "", "failed"),
        ],
    )
    def test_it_is_derived_from_the_deployments(self, alice, statuses, state, expected):
        project = ProjectFactory(owner=alice, container_state=state)
        for number, status in enumerate(statuses, 1):
            make(project, status, number)
        transitions.project_refresh(project_id=project.id)
        project.refresh_from_db()
        assert project.status == expected

    def test_a_multi_repo_parent_follows_its_components(self, alice, seen):
        parent = ProjectFactory(owner=alice, git_url="split::https://h/a/fe|https://h/a/be")
        backend = ProjectFactory(owner=alice, parent=parent, component_type="backend")
        frontend = ProjectFactory(owner=alice, parent=parent, component_type="frontend")
        b = make(backend, "starting")
        deployment_move(b, "running", project_fields={"deployed_url": "http://b:1"})
        parent.refresh_from_db()
        assert parent.status == "running"  # one runs, the other was never deployed
        f = make(frontend, "building")
        transitions.project_refresh(project_id=frontend.id)
        parent.refresh_from_db()
        assert parent.status == "deploying"
        deployment_move(f, "failed")
        parent.refresh_from_db()
        assert parent.status == "failed"
        assert any(e.type == "project.status" and e.data["project_id"] == parent.id for e in seen)

    def test_a_stopped_container_stays_stopped_when_a_redeploy_fails(self, alice):
        project = ProjectFactory(owner=alice)
        make(project, "running", 1)
        transitions.project_container_observed(
            project=project, state=Project.ContainerState.STOPPED
        )
        redeploy = make(project, "building", 2)
        transitions.project_refresh(project_id=project.id)
        project.refresh_from_db()
        assert project.status == "deploying"
        deployment_move(redeploy, "failed")
        project.refresh_from_db()
        assert project.status == "stopped"


def test_nothing_else_writes_a_status():
    """Every status write of a deployment or project is in transitions.py: no other module
    calls `.update(status=…)`, `.create(status=…)` outside tests, or assigns `.status`."""
    import ast
    from pathlib import Path

    from django.conf import settings

    root = Path(settings.BASE_DIR)
    offenders = []
    for path in [*root.glob("deployments/**/*.py"), *root.glob("projects/**/*.py")]:
        if "migrations" in path.parts or path.name == "transitions.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            writes = isinstance(node, ast.Call) and (
                isinstance(node.func, ast.Attribute)
                and node.func.attr in {"update", "update_or_create", "bulk_update"}
                and any(k.arg == "status" for k in node.keywords)
            )
            assigns = isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == "status" for t in node.targets
            )
            if writes or assigns:
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []

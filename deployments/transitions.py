"""The one place that changes the status of deployments and projects.

Every status write goes through here: the pipeline, the queue's claim, cancel, reconcile and
delete. A move is a compare-and-set on the current status, checked against `ALLOWED`, so two
writers (a worker finishing, a user cancelling, a reconcile that thinks the worker died)
can never both win. The project's status, and a multi-repo parent's, are derived here from
their deployments in the same transaction; times are stamped here; an event is published
for every change once the transaction commits; and when a deployment ends, the queue is
asked to hand the next one to a worker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from core import events
from deployments import queue
from deployments.models import Deployment
from projects.models import Project

logger = logging.getLogger(__name__)

S = Deployment.Status
ALLOWED: dict[str, frozenset[str]] = {
    # Claimed for a build (cloning) or for a rollback, which runs a kept release (starting).
    S.QUEUED: frozenset({S.CLONING, S.STARTING, S.CANCELLED, S.FAILED}),
    S.CLONING: frozenset({S.BUILDING, S.FAILED, S.CANCELLED}),
    S.BUILDING: frozenset({S.STARTING, S.FAILED, S.CANCELLED}),
    S.STARTING: frozenset({S.RUNNING, S.FAILED, S.CANCELLED}),
    # A running deployment ends only when a newer one of its project takes over.
    S.RUNNING: frozenset({S.SUPERSEDED}),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.SUPERSEDED: frozenset(),
}
ENDED = frozenset({S.FAILED, S.CANCELLED, S.SUPERSEDED})


class TransitionRefused(Exception):
    """The move is not allowed from the current status, or someone else moved it first.

    `current` is the status found (None: the deployment no longer exists).
    """

    def __init__(self, deployment_id: int, *, current: str | None, wanted: str) -> None:
        self.deployment_id = deployment_id
        self.current = current
        self.wanted = wanted
        found = "it no longer exists" if current is None else f"it is {current}"
        super().__init__(f"Deployment {deployment_id} cannot become {wanted}: {found}.")


@dataclass(frozen=True)
class Change:
    previous: str
    status: str


def deployment_move(
    deployment: Deployment, to: str, *, project_fields: dict | None = None, **fields
) -> Deployment:
    """Move `deployment` from the status it has (in memory) to `to`, with `fields` saved too.

    Raises `TransitionRefused` if `ALLOWED` forbids the move or the stored status is no longer
    the one in memory. Moving to `running` supersedes the project's previous running
    deployment and records `project_fields` (deployed URL, container name, …) on the project.
    """
    previous = deployment.status
    if to not in ALLOWED.get(previous, ()):
        raise TransitionRefused(deployment.id, current=previous, wanted=to)
    now = timezone.now()
    stamps: dict = {"heartbeat_at": now} if to not in ENDED else {}
    if previous == S.QUEUED and to in Deployment.ACTIVE:
        stamps["started_at"] = now
    if to in ENDED or to == S.RUNNING:
        stamps["finished_at"] = now
    values = {**fields, **stamps}
    with transaction.atomic():
        updated = Deployment.objects.filter(id=deployment.id, status=previous).update(
            status=to, **values
        )
        if not updated:
            current = (
                Deployment.objects.filter(id=deployment.id).values_list("status", flat=True).first()
            )
            if current is not None:
                deployment.status = current
            raise TransitionRefused(deployment.id, current=current, wanted=to)
        deployment.status = to
        for name, value in values.items():
            setattr(deployment, name, value)
        _publish_deployment(deployment, previous)
        if to == S.RUNNING:
            _supersede_others(deployment)
            project_update = {
                "container_state": Project.ContainerState.OK,
                **(project_fields or {}),
            }
            Project.objects.filter(id=deployment.project_id).update(**project_update)
        project_refresh(project_id=deployment.project_id, announce=to == S.RUNNING)
        if to in ENDED:
            queue.dispatch_on_commit()
    return deployment


def deployment_claim(deployment_id: int, *, worker: str) -> Deployment | None:
    """The worker's claim: queued -> cloning (or starting, for a rollback), exactly once.

    None when someone else has it, it was cancelled, or it no longer exists.
    """
    deployment = (
        Deployment.objects.select_related("project", "release").filter(id=deployment_id).first()
    )
    if deployment is None or deployment.status != S.QUEUED:
        return None
    to = S.STARTING if deployment.trigger == Deployment.Trigger.ROLLBACK else S.CLONING
    try:
        return deployment_move(deployment, to, claimed_by=worker)
    except TransitionRefused:
        return None


def deployment_end(deployment: Deployment, to: str, *, reason: str) -> bool:
    """End an unfinished deployment as failed or cancelled with `reason`; False if it already
    ended (or is gone): the caller lost a race it does not need to win."""
    try:
        deployment_move(deployment, to, error=reason)
    except TransitionRefused:
        return False
    return True


def _supersede_others(deployment: Deployment) -> None:
    for other in Deployment.objects.filter(
        project_id=deployment.project_id, status=S.RUNNING
    ).exclude(id=deployment.id):
        previous = other.status
        if Deployment.objects.filter(id=other.id, status=previous).update(status=S.SUPERSEDED):
            other.status = S.SUPERSEDED
            _publish_deployment(other, previous, project=deployment.project)


def _publish_deployment(deployment: Deployment, previous: str, project=None) -> None:
    project = project or deployment.project
    events.publish(
        events.DEPLOYMENT_STATUS,
        user_id=project.owner_id,
        deployment_id=deployment.id,
        project_id=deployment.project_id,
        parent_id=project.parent_id,
        component_type=project.component_type,
        app_name=project.app_name,
        number=deployment.number,
        status=deployment.status,
        previous=previous,
        error=(deployment.error or "").split("\n", 1)[0][:500],
    )


# ---------------------------------------------------------------------------------------------
# Projects: status derived from their deployments (and their container's state)


def derive_status(project: Project) -> str:
    """A single project's (or a component's) status, from its deployments.

    While a redeploy is queued or in progress, a project that serves keeps showing `running`;
    a failed or cancelled redeploy leaves it `running`. Otherwise: `queued`/`deploying` while
    a deployment waits or works; `stopped`/`missing` when the engine says so of the running
    container; `failed` when the last deployment failed; `imported` when nothing ever ran.
    """
    rows = list(
        project.deployments.exclude(status=S.SUPERSEDED)
        .order_by("-id")
        .values_list("status", flat=True)[:50]
    )
    serving = S.RUNNING in rows
    pending = next((s for s in rows if s in Deployment.UNFINISHED), None)
    state = project.container_state
    if pending is not None:
        if serving and not state:
            return Project.Status.RUNNING
        return Project.Status.DEPLOYING if pending != S.QUEUED else Project.Status.QUEUED
    if serving:
        if state == Project.ContainerState.STOPPED:
            return Project.Status.STOPPED
        if state == Project.ContainerState.MISSING:
            return Project.Status.MISSING
        return Project.Status.RUNNING
    last = next((s for s in rows if s != S.CANCELLED), None)
    return Project.Status.FAILED if last == S.FAILED else Project.Status.IMPORTED


def derive_parent_status(children: list[Project], current: str) -> str:
    """A multi-repo parent shows its components together: running when both run."""
    statuses = {c.status for c in children}
    if not children:
        return current
    if statuses & {Project.Status.QUEUED, Project.Status.DEPLOYING}:
        return Project.Status.DEPLOYING
    if Project.Status.FAILED in statuses:
        return Project.Status.FAILED
    if statuses == {Project.Status.RUNNING} and len(children) == 2:
        return Project.Status.RUNNING
    for halted in (Project.Status.MISSING, Project.Status.STOPPED):
        if halted in statuses:
            return halted
    if Project.Status.RUNNING in statuses:
        return Project.Status.RUNNING
    return Project.Status.IMPORTED_SPLIT


def project_refresh(*, project_id: int, announce: bool = False) -> None:
    """Re-derive the project's status (and its parent's); publish what changed.

    `announce`: publish the project's state even if its status did not change (its URL did).
    """
    with transaction.atomic():
        project = Project.objects.select_for_update().filter(id=project_id).first()
        if project is None:
            return
        if project.project_type == "split":
            _refresh_parent(project, announce=announce)
            return
        _save_status(project, derive_status(project), announce=announce)
        if project.parent_id:
            parent = Project.objects.select_for_update().filter(id=project.parent_id).first()
            if parent is not None:
                _refresh_parent(parent, announce=announce)


def project_container_observed(
    *, project: Project, state: str | None = None, deployed_url: str | None = None
) -> None:
    """Record what the engine says of the project's running container: its state (stopped,
    missing, ok) and the URL it is published at, when that changed."""
    fields: dict = {}
    if state is not None:
        fields["container_state"] = state
    if deployed_url is not None:
        fields["deployed_url"] = deployed_url
    if not fields:
        return
    with transaction.atomic():
        Project.objects.filter(id=project.id).update(**fields)
        project_refresh(project_id=project.id, announce=deployed_url is not None)


def _refresh_parent(parent: Project, *, announce: bool = False) -> None:
    children = list(parent.children.all())
    status = derive_parent_status(children, parent.status)
    frontend = next((c for c in children if c.component_type == Project.Component.FRONTEND), None)
    fields = {
        "deployed_url": frontend.deployed_url if frontend else "",
        "container_name": frontend.container_name if frontend else "",
    }
    changed = {k: v for k, v in fields.items() if getattr(parent, k) != v}
    if changed:
        Project.objects.filter(id=parent.id).update(**changed)
        for name, value in changed.items():
            setattr(parent, name, value)
    _save_status(parent, status, announce=announce or bool(changed))


def _save_status(project: Project, status: str, *, announce: bool = False) -> None:
    previous = project.status
    if status != previous:
        Project.objects.filter(id=project.id).update(status=status, updated_at=timezone.now())
        project.status = status
    elif not announce:
        return
    events.publish(
        events.PROJECT_STATUS,
        user_id=project.owner_id,
        project_id=project.id,
        parent_id=project.parent_id,
        app_name=project.app_name,
        status=status,
        previous=previous,
        deployed_url=project.deployed_url,
    )

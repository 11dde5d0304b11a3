"""The deploy queue: deployments wait as rows, never inside a worker.

A deployment is created `queued`. `dispatch()` hands queued deployments to workers while there
are free ones (`BUTLER_WORKERS`), and only those that may start now:
- one deployment per project (or component) at a time, the oldest queued first;
- a multi-repo frontend after its backend's deployment has ended;
- at most `BUTLER_MAX_ACTIVE_PER_USER` of one user's deployments at once, and among users the
  one with the fewest running first, so one user's burst never starves another.

Handing over marks the row (`dispatched_at`) and enqueues a task with its id after the
commit; the worker claims it with a conditional update (`transitions.deployment_claim`), so
a task that runs twice, or late, does nothing. `dispatch()` runs after a deployment is
created, whenever one ends, and in every reconcile (which also re-dispatches a handed-over
deployment whose task got lost).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from deployments.models import Deployment

logger = logging.getLogger(__name__)

S = Deployment.Status
# A handed-over deployment whose task no worker has claimed after this long is handed again.
REDISPATCH_AFTER = timedelta(seconds=60)


_task = threading.local()


def _enqueue(deployment_id: int) -> None:
    """Queue the task; from inside a running task, only once that task has returned.

    With django-q2 in sync mode (the tests) a task runs inside `async_task`: deferring keeps
    one deployment's pipeline from running inside another's.
    """
    pending = getattr(_task, "pending", None)
    if pending is not None:
        pending.append(deployment_id)
        return
    async_task(
        "deployments.tasks.run_deployment", deployment_id, task_name=f"deploy-{deployment_id}"
    )


@contextlib.contextmanager
def running_task():
    """Wrap a worker task: what it hands over is enqueued after it, then `dispatch` runs."""
    outer = getattr(_task, "pending", None) is not None
    if outer:
        yield
        return
    _task.pending = []
    try:
        yield
    finally:
        try:
            dispatch()
        finally:
            pending, _task.pending = _task.pending, None
            for deployment_id in pending:
                _enqueue(deployment_id)


def dispatch_on_commit() -> None:
    """Run `dispatch` once the current transaction commits (at once outside one)."""
    transaction.on_commit(dispatch)


def _busy():
    """Deployments that hold a worker: working, or handed over and not yet claimed."""
    return Deployment.objects.filter(
        Q(status__in=Deployment.ACTIVE) | Q(status=S.QUEUED, dispatched_at__isnull=False)
    ).select_related("project")


def dispatch() -> list[int]:
    """Hand every queued deployment that may start now to a free worker; return their ids."""
    chosen: list[int] = []
    with transaction.atomic():
        # Under SQLite the IMMEDIATE transaction serialises dispatchers; elsewhere the row
        # locks below do.
        busy = list(_locked(_busy()))
        free = settings.BUTLER_WORKERS - len(busy)
        if free <= 0:
            return []
        per_user = Counter(d.project.owner_id for d in busy)
        busy_projects = {d.project_id for d in busy}
        waiting = list(
            _locked(
                Deployment.objects.filter(status=S.QUEUED, dispatched_at__isnull=True)
                .select_related("project", "after")
                .order_by("id")
            )
        )
        while free > 0:
            candidates = [
                d
                for d in waiting
                if d.id not in chosen
                and d.project_id not in busy_projects
                and per_user[d.project.owner_id] < settings.BUTLER_MAX_ACTIVE_PER_USER
                and not _waits_for_backend(d)
                and _is_oldest_of_project(d, waiting, chosen)
            ]
            if not candidates:
                break
            pick = min(candidates, key=lambda d: (per_user[d.project.owner_id], d.id))
            handed = Deployment.objects.filter(
                id=pick.id, status=S.QUEUED, dispatched_at__isnull=True
            ).update(dispatched_at=timezone.now())
            if handed:
                chosen.append(pick.id)
                per_user[pick.project.owner_id] += 1
                busy_projects.add(pick.project_id)
                free -= 1
            else:
                waiting.remove(pick)
        for deployment_id in chosen:
            transaction.on_commit(lambda deployment_id=deployment_id: _enqueue(deployment_id))
    return chosen


def _locked(queryset):
    if connection.features.has_select_for_update_of:
        return queryset.select_for_update(of=("self",))
    return queryset


def _waits_for_backend(deployment: Deployment) -> bool:
    after = deployment.after
    return after is not None and after.status in Deployment.UNFINISHED


def _is_oldest_of_project(deployment: Deployment, waiting: list[Deployment], chosen) -> bool:
    return not any(
        d.project_id == deployment.project_id and d.id < deployment.id and d.id not in chosen
        for d in waiting
    )


def redispatch_lost(*, queued_task_names: set[str] | None) -> list[int]:
    """Handed-over deployments no worker claimed: hand them over again (the claim is safe to
    run twice). `queued_task_names` lists tasks still waiting in the broker, when it can tell."""
    cutoff = timezone.now() - REDISPATCH_AFTER
    lost = []
    for deployment in Deployment.objects.filter(status=S.QUEUED, dispatched_at__lt=cutoff):
        if queued_task_names is not None and f"deploy-{deployment.id}" in queued_task_names:
            continue  # still waiting in the broker for a worker
        if Deployment.objects.filter(id=deployment.id, status=S.QUEUED).update(dispatched_at=None):
            lost.append(deployment.id)
    if lost:
        logger.warning("re-dispatching deployments whose task was lost: %s", lost)
    return lost


@dataclass(frozen=True)
class QueuePlace:
    position: int  # 1: next to be handed over
    waiting_for: str  # what it waits for, in words


def queue_place(deployment: Deployment) -> QueuePlace | None:
    """Where a queued deployment stands, for the API; None once it is handed to a worker."""
    if deployment.status != S.QUEUED:
        return None
    if deployment.dispatched_at is not None:
        return QueuePlace(0, "a worker to pick it up")
    ahead = Deployment.objects.filter(
        status=S.QUEUED, dispatched_at__isnull=True, id__lt=deployment.id
    ).count()
    position = ahead + 1
    project_busy = (
        Deployment.objects.filter(project_id=deployment.project_id, id__lt=deployment.id)
        .filter(Q(status__in=Deployment.ACTIVE) | Q(status=S.QUEUED))
        .order_by("id")
        .first()
    )
    if project_busy is not None:
        return QueuePlace(
            position,
            f"deployment #{project_busy.number} of {deployment.project.app_name} to finish",
        )
    if deployment.after_id and _waits_for_backend(deployment):
        return QueuePlace(position, f"the backend's deployment #{deployment.after.number}")
    owner_id = deployment.project.owner_id
    mine = sum(1 for d in _busy() if d.project.owner_id == owner_id)
    if mine >= settings.BUTLER_MAX_ACTIVE_PER_USER:
        return QueuePlace(
            position,
            f"your other deployments (at most {settings.BUTLER_MAX_ACTIVE_PER_USER} run at once)",
        )
    return QueuePlace(position, "a free worker")

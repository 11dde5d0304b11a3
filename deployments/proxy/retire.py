"""Retiring replaced containers: after a switch, the old container keeps answering the
requests it already has (Caddy's old configuration finishes them) and is removed
`BUTLER_RETIRE_SECONDS` later.

No worker waits for that: the switch starts a timer thread in the worker process and returns,
so the worker takes its next task at once. Should that process end first (a recycle, a
restart), the reconcile's pass (`retire_due`, at start and periodically) removes what is due.
What counts as replaced: a container of the project that belongs to neither the running
deployment nor one still in progress (the next deploy may be starting its own already).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from deployments.models import Deployment
from deployments.releases import releases_images_collect
from deployments.runtime import get_runtime
from deployments.runtime.base import COMPOSE_PROJECT_LABEL, RuntimeFailure

logger = logging.getLogger(__name__)

S = Deployment.Status


def retire_replaced(*, project_id: int, runtime=None, force: bool = False) -> list[str]:
    """Remove the project's replaced containers whose grace period is over (all of them with
    `force`); return their names. A container's grace starts when the deployment after it
    went live: after five quick redeploys the first four go as soon as each has had its
    `BUTLER_RETIRE_SECONDS`, not only once the newest has."""
    running = (
        Deployment.objects.filter(project_id=project_id, status=S.RUNNING).order_by("-id").first()
    )
    if running is None:
        return []
    grace = timedelta(seconds=settings.BUTLER_RETIRE_SECONDS)
    now = timezone.now()
    went_live = list(
        Deployment.objects.filter(
            project_id=project_id, status__in=[S.RUNNING, S.SUPERSEDED], finished_at__isnull=False
        )
        .order_by("id")
        .values_list("id", "finished_at")
    )

    def replaced_at(label: str | None):
        deployment_id = int(label) if label and label.isdigit() else None
        later = [at for pk, at in went_live if deployment_id is None or pk > deployment_id]
        return later[0] if later else running.finished_at

    runtime = runtime or get_runtime()
    keep = {
        str(pk)
        for pk in Deployment.objects.filter(
            project_id=project_id, status__in=[S.RUNNING, *Deployment.UNFINISHED]
        ).values_list("id", flat=True)
    }
    removed = []
    for info in runtime.list_containers({"butler.project": str(project_id)}):
        if info.id == running.container_id or info.labels.get(COMPOSE_PROJECT_LABEL):
            continue
        label = info.labels.get("butler.deployment")
        if label in keep:
            continue
        since = replaced_at(label)
        if not force and since and now < since + grace:
            continue
        if runtime.remove_container(info.id):
            removed.append(info.name)
    if removed:
        releases_images_collect(project_id=project_id, runtime=runtime)
    return removed


def retire_later(*, project_id: int) -> None:
    """After a switch: retire the replaced containers once the grace period is over, without
    holding the caller (at once when `BUTLER_RETIRE_SECONDS` is 0)."""
    delay = settings.BUTLER_RETIRE_SECONDS
    if delay <= 0:
        retire_replaced(project_id=project_id, force=True)
        return
    timer = threading.Timer(delay + 0.2, _retire_in_thread, kwargs={"project_id": project_id})
    timer.name = f"retire-project-{project_id}"
    timer.daemon = False  # a worker that exits first finishes the retirement on its way out
    timer.start()


def _retire_in_thread(*, project_id: int) -> None:
    try:
        retire_replaced(project_id=project_id)
    except RuntimeFailure as exc:
        logger.warning("replaced containers of project %s not removed yet: %s", project_id, exc)
    except Exception:
        logger.exception("retiring the replaced containers of project %s failed", project_id)
    finally:
        close_old_connections()


def retire_due(runtime) -> list[str]:
    """The reconcile's pass: every project's replaced containers that are due."""
    serving = set(
        Deployment.objects.filter(status=S.RUNNING).values_list("container_id", flat=True)
    )
    candidates = {
        info.labels.get("butler.project")
        for info in runtime.list_containers({"butler.managed": "true"})
        if info.id not in serving and not info.labels.get(COMPOSE_PROJECT_LABEL)
    }
    removed = []
    for project_id in sorted(int(p) for p in candidates if p and p.isdigit()):
        removed += retire_replaced(project_id=project_id, runtime=runtime)
    return removed

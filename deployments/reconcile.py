"""Bring the database and Docker back in line after crashes, restarts and manual changes.

Run at worker start (`runbutler` does) and periodically (`setup_schedules` registers it):
- deployments stuck in an unfinished state whose task is gone become failed, with a reason;
- containers, images and compose stacks labelled with a project that no longer exists go;
- a project whose container vanished shows it (status `missing`);
- work dirs of finished deployments are removed.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from deployments.models import Deployment, LogLine
from deployments.runtime import get_runtime
from deployments.runtime.base import COMPOSE_PROJECT_LABEL, RuntimeFailure
from deployments.services import deployment_sync_port
from projects.models import Project

logger = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=2)


def _queued_task_names() -> set[str] | None:
    """Names of tasks waiting in the ORM broker, or None when the broker can't be listed."""
    if "orm" not in settings.Q_CLUSTER:
        return None
    from django_q.models import OrmQ

    return {entry.name() for entry in OrmQ.objects.all()}


def _fail(deployment: Deployment, reason: str) -> None:
    updated = Deployment.objects.filter(id=deployment.id, status=deployment.status).update(
        status=Deployment.Status.FAILED, error=reason, finished_at=timezone.now()
    )
    if updated:
        last = LogLine.objects.filter(deployment=deployment).order_by("-seq").first()
        LogLine.objects.create(
            deployment=deployment, seq=(last.seq if last else 0) + 1, stream="error", text=reason
        )
        if not deployment.project.deployments.filter(status=Deployment.Status.RUNNING).exists():
            Project.objects.filter(id=deployment.project_id).update(status=Project.Status.FAILED)


def fail_stuck_deployments(*, startup: bool = False) -> list[int]:
    """Unfinished deployments whose task is gone become failed."""
    now = timezone.now()
    queued_names = _queued_task_names()
    failed = []
    for deployment in Deployment.objects.filter(status__in=Deployment.UNFINISHED).select_related(
        "project"
    ):
        beat = deployment.heartbeat_at or deployment.created_at
        if deployment.status == Deployment.Status.QUEUED:
            in_queue = queued_names is None or f"deploy-{deployment.id}" in queued_names
            waiting = deployment.heartbeat_at and now - deployment.heartbeat_at < STALE_AFTER
            too_old = now - deployment.created_at > timedelta(
                seconds=settings.BUTLER_TASK_TIMEOUT * 2
            )
            if (in_queue and not too_old) or waiting:
                continue
            reason = "The deployment's task is no longer queued (the worker lost it). Deploy again."
        else:
            if not startup and now - beat < STALE_AFTER:
                continue
            reason = (
                f"The worker stopped while this deployment was {deployment.status} "
                "(it was restarted or crashed). Deploy again."
            )
        _fail(deployment, reason)
        failed.append(deployment.id)
        if deployment.container_id:
            with contextlib.suppress(RuntimeFailure):
                get_runtime().remove_container(deployment.container_id)
    return failed


def remove_orphans(runtime) -> dict:
    """Docker objects of this Butler whose project no longer exists."""
    existing = {str(pk) for pk in Project.objects.values_list("id", flat=True)}
    removed: dict = {"containers": [], "images": [], "compose_projects": []}
    compose_projects = set()
    for container in runtime.list_containers({"butler.managed": "true"}):
        project_id = container.labels.get("butler.project")
        if project_id is None or project_id in existing:
            continue
        if container.labels.get(COMPOSE_PROJECT_LABEL):
            compose_projects.add(container.labels[COMPOSE_PROJECT_LABEL])
        if runtime.remove_container(container.id):
            removed["containers"].append(container.name)
    for name in sorted(compose_projects):
        runtime.compose_down(project_name=name)
        removed["compose_projects"].append(name)
    for image in runtime.list_images({"butler.managed": "true"}):
        project_id = image.labels.get("butler.project")
        if project_id is not None and project_id not in existing and runtime.remove_image(image.id):
            removed["images"].append(image.tags[0] if image.tags else image.id)
    return removed


def mark_vanished_containers(runtime) -> list[int]:
    """Projects whose running container is gone show `missing`; a found one shows its state."""
    containers = {c.id: c for c in runtime.list_containers({"butler.managed": "true"})}
    missing = []
    running = Deployment.objects.filter(status=Deployment.Status.RUNNING).select_related("project")
    for deployment in running:
        if not deployment.container_id:
            continue
        info = containers.get(deployment.container_id)
        if info is None:
            if deployment.project.status != Project.Status.MISSING:
                Project.objects.filter(id=deployment.project_id).update(
                    status=Project.Status.MISSING
                )
                missing.append(deployment.project_id)
            continue
        deployment_sync_port(deployment=deployment, info=info)
        if deployment.project.status == Project.Status.MISSING:
            status = Project.Status.RUNNING if info.is_running else Project.Status.STOPPED
            Project.objects.filter(id=deployment.project_id).update(status=status)
    return missing


def remove_stale_work_dirs() -> list[str]:
    root = Path(settings.BUTLER_WORK_DIR)
    if not root.exists():
        return []
    active = set(
        Deployment.objects.filter(status__in=Deployment.UNFINISHED).values_list("id", flat=True)
    )
    removed = []
    for path in root.iterdir():
        match = re.fullmatch(r"deployment-(\d+)", path.name)
        if match and int(match[1]) not in active:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    return removed


def reconcile(*, startup: bool = False) -> dict:
    """One pass; the Docker parts are skipped (and said so) when the engine is down."""
    report: dict = {"failed_deployments": fail_stuck_deployments(startup=startup)}
    report["work_dirs"] = remove_stale_work_dirs()
    try:
        runtime = get_runtime()
        report["orphans"] = remove_orphans(runtime)
        report["missing_projects"] = mark_vanished_containers(runtime)
    except RuntimeFailure as exc:
        report["docker"] = str(exc)
    logger.info("reconcile: %s", report)
    return report

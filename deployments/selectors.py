"""Permission-scoped reads of deployments and their logs."""

from __future__ import annotations

import contextlib

from django.db.models import QuerySet
from django.http import Http404

from deployments.models import Deployment, LogLine, Release
from deployments.runtime.base import RuntimeFailure
from projects.models import Project


def deployment_get_for_user(*, user, deployment_id) -> Deployment:
    try:
        deployment_id = int(deployment_id)
    except (TypeError, ValueError):
        raise Http404("No such deployment.") from None
    deployment = (
        Deployment.objects.select_related("project", "project__parent", "release")
        .filter(id=deployment_id, project__owner_id=user.id)
        .first()
    )
    if deployment is None:
        raise Http404("No such deployment.")
    return deployment


def deployment_list_for_project(*, project: Project) -> QuerySet[Deployment]:
    """A project's deployments newest first (a multi-repo parent: its components')."""
    ids = [project.id, *project.children.values_list("id", flat=True)]
    return (
        Deployment.objects.filter(project_id__in=ids)
        .select_related("project", "release")
        .order_by("-created_at", "-id")
    )


def deployment_log_lines(
    *, deployment: Deployment, after: int = 0, limit: int = 500
) -> list[LogLine]:
    return list(deployment.log_lines.filter(seq__gt=after).order_by("seq")[:limit])


def release_list_for_project(*, project: Project) -> list[Release]:
    """The project's releases newest first (a multi-repo parent: both components')."""
    ids = [project.id, *project.children.values_list("id", flat=True)]
    return list(
        Release.objects.filter(project_id__in=ids)
        .select_related("project")
        .prefetch_related("deployments")
        .order_by("-created_at", "-id")
    )


def release_context(*, project: Project, runtime) -> dict:
    """What the release serializer needs: the running releases, and which images exist
    (one call to the engine; none when it is down, so nothing looks rollback-able)."""
    ids = [project.id, *project.children.values_list("id", flat=True)]
    current = set(
        Deployment.objects.filter(
            project_id__in=ids, status=Deployment.Status.RUNNING, release__isnull=False
        ).values_list("release_id", flat=True)
    )
    present: set[str] = set()
    with contextlib.suppress(RuntimeFailure):
        for project_id in ids:
            for image in runtime.list_images({"butler.project": str(project_id)}):
                present.update(image.tags)
    return {"current_ids": current, "present_tags": present}

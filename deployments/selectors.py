"""Permission-scoped reads of deployments and their logs."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from deployments.models import Deployment, LogLine
from projects.models import Project


def deployment_get_for_user(*, user, deployment_id) -> Deployment:
    try:
        deployment_id = int(deployment_id)
    except (TypeError, ValueError):
        raise Http404("No such deployment.") from None
    deployment = (
        Deployment.objects.select_related("project", "project__parent")
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
        .select_related("project")
        .order_by("-created_at", "-id")
    )


def deployment_log_lines(
    *, deployment: Deployment, after: int = 0, limit: int = 500
) -> list[LogLine]:
    return list(deployment.log_lines.filter(seq__gt=after).order_by("seq")[:limit])

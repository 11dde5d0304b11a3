"""Permission-scoped reads of projects: another user's project is a 404, never a 403."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from projects.models import Project


def project_get_for_user(*, user, project_id, include_children: bool = True) -> Project:
    """The user's project with this id (a parent, or a component if `include_children`)."""
    try:
        project_id = int(project_id)
    except (TypeError, ValueError):
        raise Http404("No such project.") from None
    qs = Project.objects.select_related("parent").filter(owner_id=user.id, id=project_id)
    if not include_children:
        qs = qs.filter(parent__isnull=True)
    project = qs.first()
    if project is None:
        raise Http404("No such project.")
    return project


def project_get_by_name_for_user(*, user, name: str) -> Project:
    """`DELETE /deployments/{name}`: a top-level project by container name, app
    name or id."""
    qs = Project.objects.filter(owner_id=user.id, parent__isnull=True)
    project = (
        qs.filter(container_name=name).first()
        or qs.filter(app_name=name).first()
        or (qs.filter(id=int(name)).first() if name.isdigit() else None)
    )
    if project is None:
        raise Http404("No such project.")
    return project


def project_list_for_user(*, user) -> QuerySet[Project]:
    """The user's top-level projects (multi-repo components are reached through their parent)."""
    return (
        Project.objects.filter(owner_id=user.id, parent__isnull=True)
        .prefetch_related("domains", "children")
        .order_by("-created_at", "-id")
    )


def project_components(*, project: Project) -> QuerySet[Project]:
    return project.children.order_by("component_type")

"""Writes for a project's addresses: custom domains, and forgetting routes on delete.

Every change is followed (once committed) by a push of the whole routing table.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from core.errors import ApplicationError, NotFoundError
from deployments.proxy import routes_push, routes_push_on_commit
from projects import addresses
from projects.models import Domain, Project


def _taken(name: str) -> ApplicationError:
    return ApplicationError(
        f"'{name}' is already a domain of another project. Remove it there first.",
        field="domain",
    )


@transaction.atomic
def domain_add(*, project: Project, domain: str) -> tuple[Domain, bool]:
    """Route `domain` to `project` (a multi-repo parent: to its frontend). Returns the domain
    and whether it is new. A 400 naming it when it is invalid, Butler's own, or another
    project's (any user's)."""
    name = addresses.normalize_domain(domain)
    existing = Domain.objects.filter(domain=name).first()
    if existing is not None:
        if existing.project_id != project.id:
            raise _taken(name)
        return existing, False
    try:
        with transaction.atomic():
            created = Domain.objects.create(project=project, domain=name)
    except IntegrityError:
        raise _taken(name) from None
    routes_push_on_commit()
    return created, True


@transaction.atomic
def domain_remove(*, project: Project, domain: str) -> None:
    """Stop routing `domain` to `project`; 404 when it is not one of its domains."""
    name = str(domain or "").strip().lower().rstrip(".")
    deleted, _ = Domain.objects.filter(project=project, domain=name).delete()
    if not deleted:
        raise NotFoundError(f"'{name or domain}' is not a domain of {project.app_name}.")
    routes_push_on_commit()


def routes_forget(*, projects) -> dict:
    """The project-delete hook, run before teardown: the proxy stops routing to the projects
    (their ports close, their names answer 404) before their containers are removed."""
    ids = [p.id for p in projects]
    ports = sorted(
        Project.objects.filter(id__in=ids)
        .exclude(public_port=None)
        .values_list("public_port", flat=True)
    )
    routes_push(exclude_projects=ids)
    return {"ports": ports}

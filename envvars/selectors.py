"""Reads of environment variables. Callers reach a project through `project_get_for_user`
(or `envvars_project_for_user`), so a value is only ever read for its owner."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q
from django.views.decorators.debug import sensitive_variables

from core import crypto
from core.errors import ApplicationError
from envvars.models import EnvironmentVariable
from projects.models import Project
from projects.selectors import project_get_for_user

logger = logging.getLogger(__name__)

UNREADABLE = "could not be decrypted with the configured keys"


@dataclass(frozen=True)
class EnvVarItem:
    key: str
    value: str = field(repr=False)
    is_build_time: bool
    updated_at: datetime


@dataclass(frozen=True)
class EnvVarListing:
    """A project's variables, decrypted; `errors` names the keys that could not be."""

    items: list[EnvVarItem]
    errors: dict[str, str]

    @property
    def variables(self) -> dict[str, str]:
        return {item.key: item.value for item in self.items}

    def __repr__(self) -> str:
        return f"EnvVarListing(keys={[i.key for i in self.items]}, errors={sorted(self.errors)})"


def envvars_project_for_user(*, user, project_id, component: str | None = None) -> Project:
    """The project whose variables are addressed: the user's project, or one component of it.

    `component` ("frontend"/"backend") picks a multi-repo parent's child; another user's
    project is a 404 (through `project_get_for_user`).
    """
    project = project_get_for_user(user=user, project_id=project_id)
    if not component:
        return project
    if component not in Project.Component.values:
        raise ApplicationError(
            f"Unknown component '{component[:40]}': use 'frontend' or 'backend'.", field="component"
        )
    if project.component_type == component:
        return project
    child = project.children.filter(component_type=component).first()
    if child is None:
        raise ApplicationError(
            f"Project {project.id} has no {component} component.",
            field="component",
            status_code=404,
        )
    return child


def _decrypt_rows(rows, *, project_id_for_log: int) -> tuple[list[EnvVarItem], dict[str, str]]:
    items: list[EnvVarItem] = []
    errors: dict[str, str] = {}
    for row in rows:
        try:
            value = crypto.decrypt(row.value_encrypted)
        except crypto.DecryptionError:
            logger.warning(
                "Environment variable %s of project %s %s.", row.key, project_id_for_log, UNREADABLE
            )
            errors[row.key] = UNREADABLE
            continue
        items.append(EnvVarItem(row.key, value, row.is_build_time, row.updated_at))
    return items, errors


@sensitive_variables()
def envvars_list(*, project: Project) -> EnvVarListing:
    """The project's own variables sorted by key; unreadable ones are in `errors`, by key."""
    rows = EnvironmentVariable.objects.filter(project=project).order_by("key")
    items, errors = _decrypt_rows(rows, project_id_for_log=project.id)
    return EnvVarListing(items=items, errors=errors)


def envvar_keys(*, project: Project, inherited: bool = True) -> set[str]:
    """Names set for the project (and, for a component, inherited from its parent)."""
    scope = Q(project_id=project.id)
    if inherited and project.parent_id:
        scope |= Q(project_id=project.parent_id)
    return set(EnvironmentVariable.objects.filter(scope).values_list("key", flat=True))


def envvars_redeploy_needed(*, project: Project) -> bool:
    """A running container (the project's, or a component's) started before the last change."""
    family = Project.objects.filter(Q(id=project.id) | Q(parent_id=project.id)).only(
        "env_updated_at", "env_applied_at"
    )
    return any(p.redeploy_needed for p in family)

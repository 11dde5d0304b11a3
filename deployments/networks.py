"""Names of what Butler makes in Docker: the network a project's containers run on, the one
builds run on, containers, compose projects and image repositories.

Each project has a network of its own (a multi-repo project one for both its components,
which find each other there as `frontend` and `backend`); nothing else shares it, so one
user's app never reaches another's unpublished services. Image builds run on a network of
their own too. Every name carries the full instance id, so two Butlers on one engine never
share one; every Butler network's bridge is covered by the firewall (`runtime.firewall`).
"""

from __future__ import annotations

import secrets

from django.conf import settings

from projects.models import Project


def _family_id(project: Project) -> int:
    return project.parent_id or project.id


def project_network(project: Project) -> str:
    return f"{settings.BUTLER_NETWORK}-{settings.BUTLER_INSTANCE_ID}-p{_family_id(project)}"


def project_network_labels(project: Project) -> dict[str, str]:
    return {"butler.project": str(_family_id(project)), "butler.network": "project"}


def build_network() -> str:
    return f"{settings.BUTLER_NETWORK}-{settings.BUTLER_INSTANCE_ID}-build"


def aliases(project: Project) -> tuple[str, ...]:
    """Names the project's container answers to on its network."""
    if project.component_type:
        return (project.component_type, project.app_name)
    return (project.app_name,)


def _instance() -> str:
    return settings.BUTLER_INSTANCE_ID.lower()


def container_name(project: Project) -> str:
    """`<app>-<instance>-<4 hex>`: named after the app, and which Butler made it."""
    return f"{project.app_name[:40] or 'app'}-{_instance()}-{secrets.token_hex(2)}"


def compose_project_name(project_id: int | str) -> str:
    return f"{settings.BUTLER_COMPOSE_PREFIX}-{_instance()}-{project_id}".lower()


def image_repository(project: Project) -> str:
    return f"{settings.BUTLER_IMAGE_PREFIX}-{_instance()}/{project.app_name}"

"""What deleting a project means beyond its rows, registered as a `projects.lifecycle` hook.

Its deployments in progress are cancelled (their workers stop within seconds and remove what
they made), then the containers, images, compose stacks, networks and work dirs labelled
with the project's id are removed; things already gone are fine. If the Docker Engine is
down, the rows still go and the periodic reconcile removes the labelled leftovers once it
is back.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from django.conf import settings

from deployments import transitions
from deployments.models import Deployment
from deployments.networks import compose_project_name
from deployments.runtime import get_runtime
from deployments.runtime.base import COMPOSE_PROJECT_LABEL, RuntimeFailure

logger = logging.getLogger(__name__)


def project_teardown(*, projects) -> dict:
    """Stop these projects' deployments, remove their Docker objects and work dirs; return
    what was removed."""
    removed: dict = {
        "containers": [],
        "images": [],
        "compose_projects": [],
        "networks": [],
        "work_dirs": [],
        "cancelled_deployments": [],
    }
    ids = [str(p.id) for p in projects]
    for deployment in Deployment.objects.filter(
        project_id__in=ids, status__in=Deployment.UNFINISHED
    ).select_related("project"):
        if transitions.deployment_end(
            deployment, Deployment.Status.CANCELLED, reason="The project was deleted."
        ):
            removed["cancelled_deployments"].append(deployment.id)
    for project in projects:
        for deployment_id in project.deployments.values_list("id", flat=True):
            path = Path(settings.BUTLER_WORK_DIR) / f"deployment-{deployment_id}"
            if path.exists():
                shutil.rmtree(path, ignore_errors=True)
                removed["work_dirs"].append(str(path))
    try:
        runtime = get_runtime()
        for project_id in ids:
            remove_containers(runtime, project_id, removed)
        # Only then the networks (a multi-repo project's one holds both components) and images.
        for project_id in ids:
            remove_networks_and_images(runtime, project_id, removed)
    except RuntimeFailure as exc:
        logger.warning("teardown of projects %s incomplete: %s", ids, exc)
        removed["pending"] = (
            f"{exc} Butler removes the remaining containers and images of this project when the "
            "engine is back."
        )
    return removed


def remove_containers(runtime, project_id: str, removed: dict) -> None:
    labels = {"butler.project": project_id}
    compose_projects = {compose_project_name(project_id)}
    stacks_found = set()
    for container in runtime.list_containers(labels):
        compose = container.labels.get(COMPOSE_PROJECT_LABEL)
        if compose:
            compose_projects.add(compose)
            stacks_found.add(compose)
        elif runtime.remove_container(container.id):
            removed["containers"].append(container.name)
    for name in sorted(compose_projects):
        for container in runtime.compose_containers(name):
            stacks_found.add(name)
            removed["containers"].append(container.name)
        runtime.compose_down(project_name=name)  # safe to repeat; also takes its networks
    removed["compose_projects"].extend(sorted(stacks_found))


def remove_networks_and_images(runtime, project_id: str, removed: dict) -> None:
    labels = {"butler.project": project_id}
    for network in runtime.list_networks(labels):
        if runtime.remove_network(network):
            removed["networks"].append(network)
    for image in runtime.list_images(labels):
        if runtime.remove_image(image.id):
            removed["images"].append(image.tags[0] if image.tags else image.id)

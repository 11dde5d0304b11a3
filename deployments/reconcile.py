"""Bring the database and Docker back in line after crashes, restarts and manual changes.

Run at worker start (`runbutler` does) and periodically (`setup_schedules` registers it):
- a deployment whose worker died (killed, OOM, reboot) ends `failed` with the reason, and
  what it half-made goes: its container, its image, the build's leftover layers (read back
  from its log); the project's next deployment is then handed to a worker;
- a deployment handed to a worker whose task got lost is handed over again;
- containers, images and compose stacks labelled with a project that no longer exists go;
- a project whose container vanished shows it (status `missing`), and shows it back;
- work dirs of finished deployments are removed;
- containers replaced by a redeploy whose grace period is over are removed, and the front
  proxy is given the whole routing table again;
- events older than a few minutes leave the outbox (the embedded default's event table).
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from django.conf import settings

from core import events
from deployments import queue, transitions
from deployments.liveness import worker_gone
from deployments.models import Deployment, Release
from deployments.networks import compose_project_name
from deployments.pipeline.logs import DeploymentLog
from deployments.proxy import routes_push
from deployments.proxy.retire import retire_due
from deployments.runtime import get_runtime
from deployments.runtime.base import COMPOSE_PROJECT_LABEL, RuntimeFailure
from deployments.services import deployment_sync_port
from projects.models import Project

logger = logging.getLogger(__name__)

BUILD_LOG_LINES = 20000  # of a dead deployment's log, searched for what its build left


def _queued_task_names() -> set[str] | None:
    """Names of tasks waiting in the ORM broker, or None when the broker can't be listed."""
    if "orm" not in settings.Q_CLUSTER:
        return None
    from django_q.models import OrmQ

    return {entry.name() for entry in OrmQ.objects.all()}


def fail_dead_deployments() -> list[int]:
    """Deployments in progress whose worker is gone end failed; their leftovers are removed."""
    failed = []
    for deployment in Deployment.objects.filter(status__in=Deployment.ACTIVE).select_related(
        "project"
    ):
        why = worker_gone(deployment)
        if why is None:
            continue
        reason = (
            f"The worker stopped while this deployment was {deployment.status}: {why}. "
            "Deploy again."
        )
        if transitions.deployment_end(deployment, Deployment.Status.FAILED, reason=reason):
            _log_line(deployment, reason)
            failed.append(deployment.id)
            _remove_half_made(deployment)
    return failed


def _log_line(deployment: Deployment, text: str) -> None:
    DeploymentLog(deployment).error(text)


def _remove_half_made(deployment: Deployment) -> None:
    """What a dead worker's deployment made: its container, the image it was building (and
    the build's step containers and untagged layers), a compose stack that never served."""
    try:
        runtime = get_runtime()
        if deployment.container_id and not deployment.compose_project:
            runtime.remove_container(deployment.container_id)
        for info in runtime.list_containers({"butler.deployment": str(deployment.id)}):
            if not info.labels.get(COMPOSE_PROJECT_LABEL):
                runtime.remove_container(info.id)
        serving = deployment.project.deployments.filter(status=Deployment.Status.RUNNING)
        if deployment.compose_project and not serving.exists():
            runtime.compose_down(project_name=deployment.compose_project)
        for image in runtime.list_images({"butler.deployment": str(deployment.id)}):
            # The image it built, unless a release (or a run) of another deployment uses it.
            kept = Release.objects.filter(image_tag__in=image.tags).exists()
            if (
                not kept
                and not Deployment.objects.filter(
                    image_tag__in=image.tags, status=Deployment.Status.RUNNING
                ).exists()
            ):
                runtime.remove_image(image.id)
        lines = deployment.log_lines.filter(stream="build").order_by("seq")[:BUILD_LOG_LINES]
        runtime.remove_build_leftovers("\n".join(line.text for line in lines))
    except RuntimeFailure:
        logger.warning("leftovers of deployment %s remain", deployment.id, exc_info=True)


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
    removed["networks"] = []
    for network in runtime.list_networks({"butler.network": "project"}):
        project_id = network.rsplit("-p", 1)[-1]
        if project_id.isdigit() and project_id not in existing and runtime.remove_network(network):
            removed["networks"].append(network)
    # A stack whose containers went but whose networks or volumes stayed (a crash mid-down).
    stack = re.compile(rf"^{re.escape(compose_project_name(''))}(\d+)_")
    for network in runtime.list_networks({"butler.managed": "true"}):
        found = stack.match(network)
        name = compose_project_name(found[1]) if found else None
        if found and found[1] not in existing and name not in removed["compose_projects"]:
            runtime.compose_down(project_name=name)
            removed["compose_projects"].append(name)
    return removed


def mark_vanished_containers(runtime) -> list[int]:
    """Projects whose running container is gone show `missing`; a found one shows its state."""
    containers = {c.id: c for c in runtime.list_containers({"butler.managed": "true"})}
    missing = []
    running = Deployment.objects.filter(status=Deployment.Status.RUNNING).select_related("project")
    for deployment in running:
        if not deployment.container_id:
            continue
        project = deployment.project
        info = containers.get(deployment.container_id)
        if info is None:
            if project.container_state != Project.ContainerState.MISSING:
                transitions.project_container_observed(
                    project=project, state=Project.ContainerState.MISSING
                )
                missing.append(deployment.project_id)
            continue
        deployment_sync_port(deployment=deployment, info=info)
        if project.container_state == Project.ContainerState.MISSING:
            state = Project.ContainerState.OK if info.is_running else Project.ContainerState.STOPPED
            transitions.project_container_observed(project=project, state=state)
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


def reconcile() -> dict:
    """One pass; the Docker parts are skipped (and said so) when the engine is down."""
    report: dict = {"failed_deployments": fail_dead_deployments()}
    report["redispatched"] = queue.redispatch_lost(queued_task_names=_queued_task_names())
    report["dispatched"] = queue.dispatch()
    report["work_dirs"] = remove_stale_work_dirs()
    report["outbox_pruned"] = events.outbox_prune()
    try:
        runtime = get_runtime()
        report["orphans"] = remove_orphans(runtime)
        report["missing_projects"] = mark_vanished_containers(runtime)
        report["retired"] = retire_due(runtime)
    except RuntimeFailure as exc:
        report["docker"] = str(exc)
    # The whole routing table again: repairs a proxy that restarted or missed a push.
    report["routes_pushed"] = routes_push()
    logger.info("reconcile: %s", report)
    return report

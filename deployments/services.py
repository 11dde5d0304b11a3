"""Writes for deployments: requesting them, their status changes, container lifecycle."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django_q.tasks import async_task

from butler_site.exception_handler import ApplicationError
from deployments.models import Deployment
from deployments.runtime import get_runtime
from deployments.runtime.base import ContainerNotFound, RuntimeFailure
from projects import services as project_services
from projects.models import Project

logger = logging.getLogger(__name__)


def new_trace_id() -> str:
    return f"trace-{uuid.uuid4().hex[:16]}"


def _enqueue(deployment_id: int) -> None:
    async_task(
        "deployments.tasks.run_deployment", deployment_id, task_name=f"deploy-{deployment_id}"
    )


def deployment_create(
    *, project: Project, trace_id: str, trigger: str = Deployment.Trigger.API, after=None
) -> Deployment:
    """Queue a deployment of `project`; the worker picks it up once the transaction commits."""
    with transaction.atomic():
        # Lock the project row so concurrent requests get distinct numbers.
        Project.objects.select_for_update().filter(id=project.id).first()
        last = project.deployments.aggregate(n=Max("number"))["n"] or 0
        deployment = Deployment.objects.create(
            project=project,
            number=last + 1,
            trigger=trigger,
            trace_id=trace_id,
            after=after,
            git_url=project.git_url,
            branch=project.branch,
        )
        # A running project keeps showing `running` until the new deployment replaces it.
        Project.objects.filter(id=project.id).exclude(status=Project.Status.RUNNING).update(
            status=Project.Status.QUEUED, updated_at=timezone.now()
        )
        transaction.on_commit(lambda: _enqueue(deployment.id))
    return deployment


def _import_env_file(*, project: Project, upload, field: str) -> None:
    if upload is None:
        return
    from envvars.services import envvars_import_dotenv

    raw = upload.read(256 * 1024 + 1)
    if len(raw) > 256 * 1024:
        raise ApplicationError("The env file is larger than 256 KB.", field=field)
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApplicationError("The env file is not UTF-8 text.", field=field) from None
    envvars_import_dotenv(project=project, content=content)


@transaction.atomic
def deployment_request_single(
    *,
    user,
    git_url: str | None,
    project: Project | None,
    component_type: str | None = None,
    branch: str | None = None,
    env_file=None,
    trigger: str = Deployment.Trigger.API,
) -> tuple[Project, Deployment]:
    """Deploy one repository: a new project, a redeploy, or one component of a multi-repo one.

    - no `project`: import `git_url` as a new project and deploy it;
    - `project` without `component_type`: redeploy it (optionally from a new `git_url`);
    - `project` (a multi-repo parent) with `component_type`: (re)deploy that component,
      reusing its child record.
    """
    if component_type:
        if project is None:
            raise ApplicationError(
                "component_type needs the project_id of the multi-repo project.", field="project_id"
            )
        if project.parent_id is not None:
            project = project.parent
        urls = project.split_urls
        existing = project.children.filter(component_type=component_type).first()
        url = git_url or (existing.git_url if existing else None)
        if url is None and urls:
            url = urls[0] if component_type == Project.Component.FRONTEND else urls[1]
        if not url:
            raise ApplicationError(
                f"git_url is required to deploy the {component_type}.", field="git_url"
            )
        project_services.check_git_url(url)
        target = project_services.project_component_get_or_create(
            parent=project, component_type=component_type, git_url=url
        )
        _refresh_split_url(project)
    elif project is not None:
        target = project
        if project.project_type == "split":
            raise ApplicationError(
                "This is a multi-repo project: use deploy_type=split, or give component_type.",
                field="deploy_type",
            )
        if git_url and git_url != project.git_url:
            project_services.check_git_url(git_url)
            project.git_url = git_url
            project.save(update_fields=["git_url", "updated_at"])
    else:
        if not git_url:
            raise ApplicationError("git_url is required.", field="git_url")
        target = project_services.project_import(owner=user, git_url=git_url, branch=branch)
    if branch is not None and branch != target.branch:
        target.branch = project_services.check_branch(branch)
        target.save(update_fields=["branch", "updated_at"])
    _import_env_file(project=target, upload=env_file, field="env_file")
    deployment = deployment_create(project=target, trace_id=new_trace_id(), trigger=trigger)
    return target, deployment


def _refresh_split_url(parent: Project) -> None:
    children = {c.component_type: c.git_url for c in parent.children.all()}
    if "frontend" in children and "backend" in children:
        url = f"split::{children['frontend']}|{children['backend']}"
        if parent.git_url != url:
            parent.git_url = url
            parent.save(update_fields=["git_url", "updated_at"])


@transaction.atomic
def deployment_request_split(
    *,
    user,
    frontend_url: str | None,
    backend_url: str | None,
    project: Project | None,
    frontend_env=None,
    backend_env=None,
    trigger: str = Deployment.Trigger.API,
) -> tuple[Project, dict[str, Deployment]]:
    """Deploy a frontend + backend pair: the backend first, then the frontend given its URL."""
    if project is not None:
        if project.parent_id is not None:
            project = project.parent
        urls = project.split_urls
        if urls is None and not project.children.exists():
            raise ApplicationError(
                "This project is a single repository: use deploy_type=single.", field="deploy_type"
            )
        frontend_url = frontend_url or (urls[0] if urls else None)
        backend_url = backend_url or (urls[1] if urls else None)
    if not frontend_url or not backend_url:
        raise ApplicationError(
            "frontend_url and backend_url are required for a multi-repo deploy.",
            field="frontend_url" if not frontend_url else "backend_url",
        )
    project_services.check_git_url(frontend_url, field="frontend_url")
    project_services.check_git_url(backend_url, field="backend_url")
    if project is None:
        project = project_services.project_import_split(
            owner=user, frontend_url=frontend_url, backend_url=backend_url
        )
    children = {
        component: project_services.project_component_get_or_create(
            parent=project, component_type=component, git_url=url
        )
        for component, url in (("frontend", frontend_url), ("backend", backend_url))
    }
    _refresh_split_url(project)
    _import_env_file(project=children["frontend"], upload=frontend_env, field="frontend_env")
    _import_env_file(project=children["backend"], upload=backend_env, field="backend_env")
    trace_id = new_trace_id()
    backend = deployment_create(
        project=children["backend"], trace_id=trace_id, trigger=Deployment.Trigger.SPLIT
    )
    frontend = deployment_create(
        project=children["frontend"],
        trace_id=trace_id,
        trigger=Deployment.Trigger.SPLIT,
        after=backend,
    )
    return project, {"backend": backend, "frontend": frontend}


def project_refresh_parent_status(*, project_id: int) -> None:
    """A multi-repo parent shows its components together: running when both run."""
    child = Project.objects.filter(id=project_id, parent__isnull=False).first()
    if child is None:
        return
    parent = child.parent
    children = list(parent.children.all())
    statuses = {c.status for c in children}
    if statuses == {Project.Status.RUNNING} and len(children) == 2:
        status = Project.Status.RUNNING
    elif statuses & {Project.Status.QUEUED, Project.Status.DEPLOYING}:
        status = Project.Status.DEPLOYING
    elif Project.Status.FAILED in statuses:
        status = Project.Status.FAILED
    elif Project.Status.RUNNING in statuses:
        status = Project.Status.RUNNING
    else:
        status = parent.status
    frontend = next((c for c in children if c.component_type == Project.Component.FRONTEND), None)
    Project.objects.filter(id=parent.id).update(
        status=status,
        deployed_url=frontend.deployed_url if frontend else "",
        container_name=frontend.container_name if frontend else "",
        updated_at=timezone.now(),
    )


def project_remove_images_beyond_keep(*, project_id: int, runtime=None) -> list[str]:
    """Keep the newest `BUTLER_KEEP_IMAGES` images of a project (and any in use); remove the rest."""
    runtime = runtime or get_runtime()
    in_use = set(
        Deployment.objects.filter(
            project_id=project_id, status__in=[Deployment.Status.RUNNING, *Deployment.UNFINISHED]
        ).values_list("image_tag", flat=True)
    )
    images = sorted(
        runtime.list_images({"butler.project": str(project_id)}),
        key=lambda i: i.created,
        reverse=True,
    )
    removed = []
    for image in images[settings.BUTLER_KEEP_IMAGES :]:
        if in_use & set(image.tags):
            continue
        try:
            if runtime.remove_image(image.id):
                removed.append(image.tags[0] if image.tags else image.id)
        except RuntimeFailure:
            logger.warning("could not remove old image %s", image.id, exc_info=True)
    return removed


def deployment_sync_port(*, deployment: Deployment, info) -> None:
    """Record the host port a (re)started container got, if the engine chose a new one."""
    if not info.host_port or info.host_port == deployment.host_port:
        return
    url = f"http://{settings.BUTLER_PUBLIC_HOST}:{info.host_port}"
    Deployment.objects.filter(id=deployment.id).update(host_port=info.host_port, deployed_url=url)
    Project.objects.filter(id=deployment.project_id).update(deployed_url=url)
    project_refresh_parent_status(project_id=deployment.project_id)


CONTAINER_ACTIONS = {"stop", "start", "restart"}


def project_container_action(*, project: Project, action: str) -> list[dict]:
    """Stop, start or restart the running container(s) of a project (both of a multi-repo one)."""
    if action not in CONTAINER_ACTIONS:
        raise ApplicationError(f"Unknown action '{action}'.")
    targets = list(project.children.all()) if project.project_type == "split" else [project]
    runtime = get_runtime()
    done = []
    for target in targets:
        deployment = (
            target.deployments.filter(status=Deployment.Status.RUNNING).order_by("-id").first()
        )
        if deployment is None or not deployment.container_id:
            raise ApplicationError(
                f"{target.app_name} has no deployed container. Deploy it first.", status_code=409
            )
        try:
            if action == "stop":
                info = runtime.stop_container(deployment.container_id)
            elif action == "start":
                info = runtime.start_container(deployment.container_id)
            else:
                info = runtime.restart_container(deployment.container_id)
        except ContainerNotFound:
            Project.objects.filter(id=target.id).update(status=Project.Status.MISSING)
            raise ApplicationError(
                f"The container of {target.app_name} no longer exists. Redeploy the project.",
                status_code=409,
            ) from None
        status = Project.Status.STOPPED if action == "stop" else Project.Status.RUNNING
        Project.objects.filter(id=target.id).update(status=status, updated_at=timezone.now())
        if action != "stop":
            deployment_sync_port(deployment=deployment, info=info)
        done.append({"project_id": target.id, "container_name": info.name, "status": info.status})
    if project.project_type == "split":
        Project.objects.filter(id=project.id).update(
            status=Project.Status.STOPPED if action == "stop" else Project.Status.RUNNING
        )
    return done

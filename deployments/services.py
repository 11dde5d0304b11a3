"""Writes for deployments: requesting them, rolling back, cancelling, container lifecycle.

Statuses change only through `deployments.transitions`; work reaches the workers only
through `deployments.queue`.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from core.errors import ApplicationError, ConflictError, NotFoundError
from deployments import queue, transitions
from deployments.liveness import worker_gone
from deployments.models import Deployment, Release
from deployments.proxy import routes_push_on_commit
from deployments.runtime import get_runtime
from deployments.runtime.base import ContainerNotFound, RuntimeFailure
from envvars.services import envvars_import_dotenv
from projects import services as project_services
from projects.models import Project

logger = logging.getLogger(__name__)

S = Deployment.Status


def new_trace_id() -> str:
    return f"trace-{uuid.uuid4().hex[:16]}"


def deployment_create(
    *,
    project: Project,
    trace_id: str,
    trigger: str = Deployment.Trigger.API,
    after: Deployment | None = None,
    release: Release | None = None,
) -> Deployment:
    """Queue a deployment of `project` (of `release`, for a rollback).

    Older queued deployments of the project end `cancelled`, superseded by this one: only the
    newest request matters. The queue hands it to a worker once the transaction commits.
    """
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
            release=release,
            commit_sha=release.commit_sha if release else "",
            strategy=release.strategy if release else "",
            image_tag=release.image_tag if release else "",
            generated_dockerfile=release.generated_dockerfile if release else "",
        )
        for older in project.deployments.filter(status=S.QUEUED).exclude(id=deployment.id):
            transitions.deployment_end(
                older,
                S.CANCELLED,
                reason=f"Superseded by deployment #{deployment.number}, requested after it.",
            )
        transitions.project_refresh(project_id=project.id)
        queue.dispatch_on_commit()
    return deployment


def _import_env_file(*, project: Project, upload, field: str) -> None:
    if upload is None:
        return
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
    strategy: str | None = None,
    root_dir: str | None = None,
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
    project_services.project_set_build(project=target, strategy=strategy, root_dir=root_dir)
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
    frontend_root_dir: str | None = None,
    backend_root_dir: str | None = None,
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
            owner=user,
            frontend_url=frontend_url,
            backend_url=backend_url,
            frontend_root_dir=frontend_root_dir or "",
            backend_root_dir=backend_root_dir or "",
        )
    children = {
        component: project_services.project_component_get_or_create(
            parent=project, component_type=component, git_url=url
        )
        for component, url in (("frontend", frontend_url), ("backend", backend_url))
    }
    project_services.project_set_build(project=children["frontend"], root_dir=frontend_root_dir)
    project_services.project_set_build(project=children["backend"], root_dir=backend_root_dir)
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


# ---------------------------------------------------------------------------------------------
# Rollback


def deployment_rollback(
    *,
    project: Project,
    deployment_id: int | None = None,
    release_id: int | None = None,
    trigger: str = Deployment.Trigger.ROLLBACK,
) -> dict[str, Deployment]:
    """Queue a deployment that runs an earlier release again: no build, its image and its env
    snapshot, health-gated like any redeploy (what runs now serves until it answers).

    `deployment_id` or `release_id` names the release (of the project, or of a component of
    a multi-repo one); neither means the release before the one running. A multi-repo parent
    rolls back both components to the releases of the same deploy, backend first. Returns
    the new deployments by component ("app" for a single project).
    """
    targets = _rollback_targets(project, deployment_id=deployment_id, release_id=release_id)
    runtime = get_runtime()
    for target, release in targets:
        _check_can_run(runtime, target, release)
    trace_id = new_trace_id()
    created: dict[str, Deployment] = {}
    with transaction.atomic():
        backend = None
        for target, release in sorted(targets, key=lambda t: t[0].component_type != "backend"):
            deployment = deployment_create(
                project=target,
                trace_id=trace_id,
                trigger=trigger,
                release=release,
                after=backend if target.component_type == Project.Component.FRONTEND else None,
            )
            if target.component_type == Project.Component.BACKEND:
                backend = deployment
            created[target.component_type or "app"] = deployment
    return created


def _family(project: Project) -> list[Project]:
    children = list(project.children.all())
    return children or [project]


def _rollback_targets(
    project: Project, *, deployment_id: int | None, release_id: int | None
) -> list[tuple[Project, Release]]:
    family = _family(project)
    by_id = {p.id: p for p in family}
    if deployment_id is not None or release_id is not None:
        if deployment_id is not None:
            chosen = Deployment.objects.filter(id=deployment_id, project_id__in=by_id).first()
            if chosen is None:
                raise NotFoundError(
                    f"This project has no deployment {deployment_id}.", field="deployment_id"
                )
            if chosen.release is None:
                raise ConflictError(
                    f"Deployment #{chosen.number} made no release ({chosen.status}): there is "
                    "nothing of it to run. Choose a deployment that ran.",
                    field="deployment_id",
                )
            release = chosen.release
        else:
            release = Release.objects.filter(id=release_id, project_id__in=by_id).first()
            if release is None:
                raise NotFoundError(
                    f"This project has no release {release_id}.", field="release_id"
                )
            chosen = release.deployments.order_by("id").first()
        targets = [(by_id[release.project_id], release)]
        if len(family) > 1 and chosen is not None:
            # The other component: its release from the same multi-repo deploy.
            sibling = (
                Deployment.objects.filter(trace_id=chosen.trace_id, release__isnull=False)
                .exclude(project_id=release.project_id)
                .filter(project_id__in=by_id)
                .select_related("release")
                .first()
            )
            if sibling is not None:
                targets.append((by_id[sibling.project_id], sibling.release))
        to_run = [
            (target, release) for target, release in targets if not _is_running(target, release)
        ]
        if not to_run:
            versions = ", ".join(f"v{release.number}" for _target, release in targets)
            raise ConflictError(f"Release {versions} is already running: nothing to roll back.")
        return to_run
    targets = []
    for target in family:
        previous = _previous_release(target)
        if previous is not None:
            targets.append((target, previous))
    if not targets:
        raise ConflictError(
            "There is no earlier release to roll back to: deploy at least twice first."
        )
    return targets


def _is_running(project: Project, release: Release) -> bool:
    return project.deployments.filter(status=S.RUNNING, release=release).exists()


def _previous_release(project: Project) -> Release | None:
    """The release before the one running (the newest one when nothing runs)."""
    current = project.deployments.filter(status=S.RUNNING).select_related("release").first()
    releases = project.releases.exclude(compose_project__gt="").order_by("-number")
    if current is not None and current.release is not None:
        releases = releases.filter(number__lt=current.release.number)
    return releases.first()


def _check_can_run(runtime, project: Project, release: Release) -> None:
    if release.compose_project:
        raise ConflictError(
            f"Release v{release.number} of {project.app_name} is a compose stack, which is "
            "rebuilt from source each time: it cannot be rolled back to. Deploy that commit "
            "again instead."
        )
    try:
        present = bool(release.image_tag) and runtime.image_exists(release.image_tag)
    except RuntimeFailure as exc:
        raise ApplicationError(str(exc), status_code=503) from None
    if not present:
        raise ConflictError(
            f"The image of release v{release.number} of {project.app_name} was removed (only "
            f"the last {settings.BUTLER_KEEP_RELEASES} releases keep theirs): it cannot be "
            "rolled back to. Deploy that commit again instead."
        )


# ---------------------------------------------------------------------------------------------
# Cancel


def deployment_cancel(*, deployment: Deployment, by: str) -> Deployment:
    """Stop a deployment: a queued one ends at once; a running one is stopped by its worker
    within seconds (its clone, build or start killed, what it made removed), and whatever ran
    before keeps serving. A 409 for a deployment that has already ended."""
    reason = f"Cancelled by {by}."
    if deployment.status == S.QUEUED and transitions.deployment_end(
        deployment, S.CANCELLED, reason=reason
    ):
        return deployment
    deployment.refresh_from_db()
    if deployment.status in Deployment.ACTIVE:
        Deployment.objects.filter(
            id=deployment.id, status__in=Deployment.ACTIVE, cancel_requested_at__isnull=True
        ).update(cancel_requested_at=timezone.now(), error=reason)
        deployment.refresh_from_db()
        if worker_gone(deployment):  # nobody left to act on the request: end it here
            transitions.deployment_end(deployment, S.CANCELLED, reason=reason)
            deployment.refresh_from_db()
        return deployment
    raise ConflictError(
        f"Deployment #{deployment.number} is {deployment.status}: only a queued or running "
        "deployment can be cancelled.",
    )


def deployment_cancel_active(*, project: Project, by: str) -> list[Deployment]:
    """Cancel the unfinished deployments of a project (and of its components)."""
    ids = [p.id for p in _family(project)]
    unfinished = Deployment.objects.filter(project_id__in=ids, status__in=Deployment.UNFINISHED)
    done = [deployment_cancel(deployment=d, by=by) for d in unfinished.order_by("id")]
    if not done:
        raise ConflictError(f"{project.app_name} has no deployment in progress to cancel.")
    return done


# ---------------------------------------------------------------------------------------------
# The running container


def deployment_sync_port(*, deployment: Deployment, info) -> bool:
    """Record the host port a (re)started container got, if the engine chose a new one, and
    point the proxy at it; the project's URL (its public port) stays as it is. True if the
    port changed."""
    if not info.host_port or info.host_port == deployment.host_port:
        return False
    Deployment.objects.filter(id=deployment.id).update(host_port=info.host_port)
    deployment.host_port = info.host_port
    routes_push_on_commit()
    return True


CONTAINER_ACTIONS = {"stop", "start", "restart"}


def project_container_action(*, project: Project, action: str) -> list[dict]:
    """Stop, start or restart the running container(s) of a project (both of a multi-repo one)."""
    if action not in CONTAINER_ACTIONS:
        raise ApplicationError(f"Unknown action '{action}'.")
    targets = list(project.children.all()) if project.project_type == "split" else [project]
    runtime = get_runtime()
    done = []
    for target in targets:
        deployment = target.deployments.filter(status=S.RUNNING).order_by("-id").first()
        if deployment is None or not deployment.container_id:
            raise ConflictError(f"{target.app_name} has no deployed container. Deploy it first.")
        try:
            if action == "stop":
                info = runtime.stop_container(deployment.container_id)
            elif action == "start":
                info = runtime.start_container(deployment.container_id)
            else:
                info = runtime.restart_container(deployment.container_id)
        except ContainerNotFound:
            transitions.project_container_observed(
                project=target, state=Project.ContainerState.MISSING
            )
            raise ConflictError(
                f"The container of {target.app_name} no longer exists. Redeploy the project."
            ) from None
        except RuntimeFailure as exc:
            raise ApplicationError(str(exc), status_code=503) from None
        state = Project.ContainerState.STOPPED if action == "stop" else Project.ContainerState.OK
        transitions.project_container_observed(project=target, state=state)
        if action != "stop":
            deployment_sync_port(deployment=deployment, info=info)
        done.append({"project_id": target.id, "container_name": info.name, "status": info.status})
    routes_push_on_commit()  # a stopped app answers 503 saying so; a started one is routed
    return done

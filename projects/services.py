"""Writes for projects: import (single and multi-repo), rename, delete."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from core import events
from core.errors import ApplicationError
from gitsources import (
    GitSourceError,
    RootDirError,
    check_git_source,
    repo_name_from_url,
    validate_branch,
    validate_root_dir,
)
from projects.lifecycle import run_delete_hooks
from projects.models import BUILD_STRATEGIES, Project


def check_git_url(url: str, *, field: str = "git_url") -> str:
    """The URL as given, or a 400 naming the field and what is wrong with it (including a
    host that resolves to this machine, a private network or the metadata address)."""
    try:
        check_git_source(url)
    except GitSourceError as exc:
        raise ApplicationError(str(exc), field=field) from None
    return url


def check_branch(branch: str | None) -> str:
    """The branch ('' for the default branch), or a 400 saying what a branch may be."""
    branch = (branch or "").strip()
    if branch:
        try:
            validate_branch(branch)
        except GitSourceError as exc:
            raise ApplicationError(str(exc), field="branch") from None
    return branch


def check_root_dir(value: str | None, *, field: str = "root_dir") -> str:
    """The folder to build, normalised (`"./web/"` -> `"web"`), or a 400 saying what is wrong."""
    try:
        return validate_root_dir(value)
    except RootDirError as exc:
        raise ApplicationError(str(exc), field=field) from None


def check_strategy(value: str | None) -> str:
    strategy = value or "auto"
    if strategy not in BUILD_STRATEGIES:
        raise ApplicationError(
            f"Unknown strategy '{strategy[:40]}': choose one of {', '.join(BUILD_STRATEGIES)}.",
            field="strategy",
        )
    return strategy


def project_set_build(
    *, project: Project, strategy: str | None = None, root_dir: str | None = None
) -> Project:
    """Change how the project is built (kept for every later deploy)."""
    fields = []
    if strategy is not None and check_strategy(strategy) != project.strategy:
        project.strategy = strategy
        fields.append("strategy")
    if root_dir is not None:
        folder = check_root_dir(root_dir)
        if folder != project.root_dir:
            project.root_dir = folder
            fields.append("root_dir")
    if fields:
        project.save(update_fields=[*fields, "updated_at"])
    return project


def _slug(name: str) -> str:
    return slugify(name)[:63].strip("-")


def _taken(*, owner, app_name: str, exclude_id: int | None = None) -> bool:
    qs = Project.objects.filter(owner=owner, parent__isnull=True, app_name=app_name)
    if exclude_id is not None:
        qs = qs.exclude(id=exclude_id)
    return qs.exists()


def _app_name(*, owner, requested: str | None, derived_from: str) -> str:
    """The requested name (slugified; 400 if taken), or one derived and made unique."""
    if requested:
        name = _slug(requested)
        if not name:
            raise ApplicationError("The app name must contain letters or digits.", field="app_name")
        if _taken(owner=owner, app_name=name):
            raise ApplicationError(
                f"You already have a project named '{name}'. Choose another app_name.",
                field="app_name",
            )
        return name
    base = _slug(derived_from)[:56] or "app"
    name, n = base, 1
    while _taken(owner=owner, app_name=name):
        n += 1
        name = f"{base}-{n}"
    return name


def _unique_violation(exc: IntegrityError) -> ApplicationError:
    return ApplicationError(
        "A project with this app_name was created at the same moment. Try again.",
        field="app_name",
        status_code=409,
    )


@transaction.atomic
def project_import(
    *,
    owner,
    git_url: str,
    app_name: str | None = None,
    branch: str | None = None,
    strategy: str = "auto",
    root_dir: str = "",
) -> Project:
    """Record a single-repository project (status `imported`) without deploying it.

    `strategy` forces how it is built ("auto" detects); `root_dir` is the folder of the
    repository to build (a monorepo's `frontend`).
    """
    check_git_url(git_url)
    branch = check_branch(branch)
    strategy, root_dir = check_strategy(strategy), check_root_dir(root_dir)
    derived = repo_name_from_url(git_url) + (f"-{root_dir.rsplit('/', 1)[-1]}" if root_dir else "")
    name = _app_name(owner=owner, requested=app_name, derived_from=derived)
    try:
        with transaction.atomic():
            return Project.objects.create(
                owner=owner,
                app_name=name,
                git_url=git_url,
                branch=branch,
                strategy=strategy,
                root_dir=root_dir,
                status=Project.Status.IMPORTED,
            )
    except IntegrityError as exc:
        raise _unique_violation(exc) from None


@transaction.atomic
def project_import_split(
    *,
    owner,
    frontend_url: str,
    backend_url: str,
    app_name: str | None = None,
    branch: str | None = None,
    frontend_root_dir: str = "",
    backend_root_dir: str = "",
) -> Project:
    """Record a multi-repo project: a parent (`split::{fe}|{be}`) with its two components.

    One repository may serve as both, with a folder for each (`frontend_root_dir`,
    `backend_root_dir`): a monorepo's `frontend/` and `backend/`.
    """
    check_git_url(frontend_url, field="frontend_url")
    check_git_url(backend_url, field="backend_url")
    branch = check_branch(branch)
    folders = {
        Project.Component.FRONTEND: check_root_dir(frontend_root_dir, field="frontend_root_dir"),
        Project.Component.BACKEND: check_root_dir(backend_root_dir, field="backend_root_dir"),
    }
    if frontend_url == backend_url and folders["frontend"] == folders["backend"]:
        raise ApplicationError(
            "The frontend and the backend are the same repository: give each its folder "
            "(frontend_root_dir and backend_root_dir).",
            field="backend_root_dir",
        )
    derived = f"{repo_name_from_url(frontend_url)}-{repo_name_from_url(backend_url)}"
    if frontend_url == backend_url:
        derived = repo_name_from_url(frontend_url)
    name = _app_name(owner=owner, requested=app_name, derived_from=derived)
    try:
        with transaction.atomic():
            parent = Project.objects.create(
                owner=owner,
                app_name=name,
                git_url=f"split::{frontend_url}|{backend_url}",
                branch=branch,
                status=Project.Status.IMPORTED_SPLIT,
            )
            for component, url in (
                (Project.Component.FRONTEND, frontend_url),
                (Project.Component.BACKEND, backend_url),
            ):
                child = project_component_get_or_create(
                    parent=parent, component_type=component, git_url=url
                )
                project_set_build(project=child, root_dir=folders[component])
    except IntegrityError as exc:
        raise _unique_violation(exc) from None
    return parent


def project_component_get_or_create(
    *, parent: Project, component_type: str, git_url: str
) -> Project:
    """The parent's frontend/backend child, created if missing, pointing at `git_url`."""
    child, created = Project.objects.get_or_create(
        parent=parent,
        component_type=component_type,
        defaults={
            "owner_id": parent.owner_id,
            "app_name": _slug(f"{parent.app_name}-{component_type}"),
            "git_url": git_url,
            "branch": parent.branch,
            "status": Project.Status.IMPORTED,
        },
    )
    if not created and child.git_url != git_url:
        child.git_url = git_url
        child.save(update_fields=["git_url", "updated_at"])
    return child


@transaction.atomic
def project_rename(*, project: Project, app_name: str) -> Project:
    name = _slug(app_name or "")
    if not name:
        raise ApplicationError("The app name must contain letters or digits.", field="app_name")
    if project.parent_id is None and _taken(
        owner=project.owner, app_name=name, exclude_id=project.id
    ):
        raise ApplicationError(
            f"You already have a project named '{name}'. Choose another app_name.",
            field="app_name",
        )
    project.app_name = name
    project.save(update_fields=["app_name", "updated_at"])
    return project


def project_delete(*, project: Project) -> dict:
    """Delete the project with its components and everything the ORM hangs off them.

    What the ORM cannot see (running deployments, containers, images, compose stacks,
    networks, work dirs) is handled by the hooks registered in `projects.lifecycle` (the
    deployments app's teardown), which tolerate things already gone; the answer says what
    was removed. The API, the web UI and the admin all delete through here.
    """
    family = [project, *project.children.all()]
    removed = run_delete_hooks(projects=family)
    with transaction.atomic():
        Project.objects.filter(id=project.id).delete()
        events.publish(
            events.PROJECT_DELETED,
            user_id=project.owner_id,
            project_id=project.id,
            app_name=project.app_name,
            component_ids=[p.id for p in family[1:]],
        )
    return removed

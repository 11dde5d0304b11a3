"""A project's pages. Thin: every read goes through the selectors (another user's project is a
404), every write through a service; a service's `ApplicationError` is shown next to the field
it names. Forms post and redirect, so everything but the live parts works without JavaScript.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError
from deployments import selectors as deployment_selectors
from deployments import services as deployment_services
from deployments.models import Deployment
from deployments.proxy import services as proxy_services
from deployments.runtime import get_runtime
from envvars import selectors as env_selectors
from envvars import services as env_services
from projects import addresses
from projects import services as project_services
from projects.models import Project
from projects.selectors import project_get_for_user
from web.forms_project import (
    ConfigurationForm,
    DomainForm,
    EnvImportForm,
    EnvVarForm,
    SingleDeployForm,
    SplitDeployForm,
    add_service_error,
)

S = Deployment.Status
PHASES = ["queued", "cloning", "building", "starting", "running"]
# Which pipeline timing (deployments/pipeline) belongs to which phase of the stepper.
TIMING_PHASE = {
    "clone": "cloning",
    "detect": "cloning",
    "build": "building",
    "start": "starting",
    "ready": "starting",
}
PANEL_LINES = 400  # the newest lines a deploy panel renders; the socket brings the rest
DEPLOYMENTS_PER_PAGE = 50
COMPONENTS = (Project.Component.BACKEND, Project.Component.FRONTEND)
TRIGGERS = {
    "ui": "Web UI",
    "api": "API",
    "cli": "CLI",
    "split": "Deploy All",
    "rollback": "Rollback",
}


# Escape sequences (colours, cursor moves) in build output: a deploy log shows plain text.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


@dataclass(frozen=True)
class ShownLine:
    seq: int
    stream: str
    text: str


# ---------------------------------------------------------------------------------------------
# Helpers


def project_page(view):
    """The signed-in owner's top-level project as `project`; a component's URL goes to its
    parent's page; anyone else's project (or none) is a 404."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, project_id: int, **kwargs):
        project = project_get_for_user(user=request.user, project_id=project_id)
        if project.parent_id is not None:
            target = reverse(
                request.resolver_match.view_name, kwargs={"project_id": project.parent_id, **kwargs}
            )
            query = request.GET.urlencode()
            return redirect(f"{target}?{query}" if query else target)
        return view(request, project, **kwargs)

    return wrapper


def _children(project: Project) -> dict[str, Project]:
    return {child.component_type: child for child in project.children.all()}


def _is_split(project: Project, children: dict[str, Project]) -> bool:
    return project.project_type == "split" or bool(children)


def _to(name: str, project: Project, query: str = "") -> HttpResponse:
    url = reverse(f"web:{name}", kwargs={"project_id": project.id})
    return redirect(f"{url}?{query}" if query else url)


def _nav(project: Project, active: str, *, is_split: bool) -> dict:
    return {"project": project, "active": active, "is_split": is_split}


def _duration(deployment: Deployment) -> float | None:
    start = deployment.started_at or deployment.created_at
    end = deployment.finished_at or (None if deployment.is_finished else timezone.now())
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def _steps(deployment: Deployment) -> list[dict]:
    """The stepper: each phase done, current, failed or to come."""
    status = deployment.status
    if status in (S.RUNNING, S.SUPERSEDED):
        reached = len(PHASES) - 1
    elif status in PHASES:
        reached = PHASES.index(status)
    else:  # failed or cancelled: the furthest phase its timings reached
        reached = 0
        for timing in deployment.phase_timings or {}:
            phase = TIMING_PHASE.get(timing)
            if phase:
                reached = max(reached, PHASES.index(phase))
    ended_badly = status in (S.FAILED, S.CANCELLED)
    steps = []
    for index, name in enumerate(PHASES):
        if index < reached or (index == reached and status in (S.RUNNING, S.SUPERSEDED)):
            state = "done"
        elif index == reached:
            state = "failed" if ended_badly else "current"
        else:
            state = "todo"
        steps.append({"name": name, "state": state})
    return steps


def _panel(deployment: Deployment, *, lines: list | None = None) -> dict:
    """What templates/web/partials/project_deployment.html needs of one deployment."""
    if lines is None:
        newest = deployment.log_lines.order_by("-seq")[:PANEL_LINES]
        lines = [
            ShownLine(row.seq, row.stream, ANSI_ESCAPE.sub("", row.text))
            for row in reversed(newest)
        ]
    explaining = []
    error = deployment.error.strip()
    if deployment.status == S.FAILED and "\n" not in error:
        # A one-line error: the log lines that explain it (a longer error quotes them itself).
        fresh = [line for line in lines if line.text.strip() and line.text.strip() not in error]
        explaining = [line for line in fresh if line.stream in ("error", "warning")][-12:]
        explaining = explaining or [line for line in fresh if line.stream != "system"][-12:]
    target = deployment.project
    return {
        "deployment": deployment,
        "component": target.component_type,
        "steps": _steps(deployment),
        "lines": lines,
        "last_seq": lines[-1].seq if lines else 0,
        "duration": _duration(deployment),
        "started": (deployment.started_at or deployment.created_at).isoformat(),
        "explaining": explaining,
        "site_url": (target.deployed_url or deployment.deployed_url)
        if deployment.status == S.RUNNING
        else "",
        "can_cancel": not deployment.is_finished,
        "trigger": TRIGGERS.get(deployment.trigger, deployment.trigger),
    }


def _latest_panels(project: Project, children: dict[str, Project]) -> list[dict]:
    """The newest deployment of the project (of each component, backend first)."""
    targets = [children[c] for c in COMPONENTS if c in children] if children else [project]
    panels = []
    for target in targets:
        deployment = target.deployments.select_related("project").order_by("-id").first()
        if deployment is not None:
            panels.append(_panel(deployment))
    return panels


def _first_deploy(project: Project, children: dict[str, Project]) -> bool:
    ids = [project.id, *(c.id for c in children.values())]
    return not Deployment.objects.filter(project_id__in=ids).exists()


# ---------------------------------------------------------------------------------------------
# Deploy


def _deploy_context(
    request, project: Project, *, single_form=None, split_form=None, error=None
) -> dict:
    children = _children(project)
    is_split = _is_split(project, children)
    urls = project.split_urls or (
        children["frontend"].git_url if "frontend" in children else "",
        children["backend"].git_url if "backend" in children else "",
    )
    if is_split:
        split_form = split_form or SplitDeployForm(
            initial={"frontend_url": urls[0], "backend_url": urls[1]}
        )
    else:
        single_form = single_form or SingleDeployForm(
            initial={"git_url": project.git_url, "branch": project.branch}
        )
    components_ready = is_split and all(
        c in children
        and children[c].deployed_url
        and children[c].status in ("running", "success", "stopped")
        for c in COMPONENTS
    )
    return {
        **_nav(project, "deploy", is_split=is_split),
        "children": children,
        "components": [
            children[c]
            for c in (Project.Component.FRONTEND, Project.Component.BACKEND)
            if c in children
        ],
        "components_ready": components_ready,
        "single_form": single_form,
        "split_form": split_form,
        "panels": _latest_panels(project, children),
        "first_deploy": _first_deploy(project, children),
        "redeploy_needed": any(p.redeploy_needed for p in [project, *children.values()]),
        "error": error,
    }


@project_page
@require_GET
def deploy_page(request: HttpRequest, project: Project) -> HttpResponse:
    response = render(request, "web/project/deploy.html", _deploy_context(request, project))
    add_never_cache_headers(response)  # opening a project always shows fresh data
    return response


def _import_detected(request, project: Project, children: dict[str, Project]) -> int:
    """Save the detected variables the dialog listed (`import_key`, "component:KEY" or "KEY")
    with empty values, leaving those already set alone. Returns how many were added."""
    added = 0
    for entry in request.POST.getlist("import_key")[:500]:
        component, _, key = entry.rpartition(":")
        target = children.get(component) or project
        if key in env_selectors.envvar_keys(project=target):
            continue
        _row, created = env_services.envvar_set(project=target, key=key, value="")
        added += int(created)
    return added


@project_page
@require_POST
def deploy_submit(request: HttpRequest, project: Project) -> HttpResponse:
    """Deploy: `action` is deploy (single), all, frontend, backend or redeploy. Before a first
    deploy and before Deploy All, the detection step comes first (`detect` = import or skip:
    the dialog's answer; without it the page with the dialog is shown)."""
    action = request.POST.get("action", "deploy")
    children = _children(project)
    is_split = _is_split(project, children)
    single_form = split_form = None
    if is_split:
        split_form = SplitDeployForm(request.POST)
        valid = split_form.is_valid()
    else:
        single_form = SingleDeployForm(request.POST) if action != "redeploy" else None
        valid = single_form.is_valid() if single_form else True
    if not valid or action not in ("deploy", "all", "frontend", "backend", "redeploy"):
        context = _deploy_context(request, project, single_form=single_form, split_form=split_form)
        return render(request, "web/project/deploy.html", context, status=400)
    wants_detection = action == "all" or (action == "deploy" and _first_deploy(project, children))
    choice = request.POST.get("detect")
    if wants_detection and choice not in ("import", "skip"):
        return detect_page(
            request,
            project,
            children=children,
            is_split=is_split,
            form=split_form or single_form,
            action=action,
        )
    try:
        if choice == "import":
            added = _import_detected(request, project, children)
            if added:
                messages.info(
                    request, f"Added {added} variable{'' if added == 1 else 's'} with empty values."
                )
        if is_split and action in ("all", "redeploy"):
            data = split_form.cleaned_data
            deployment_services.deployment_request_split(
                user=request.user,
                frontend_url=data["frontend_url"].strip() or None,
                backend_url=data["backend_url"].strip() or None,
                project=project,
                trigger=Deployment.Trigger.UI,
            )
        elif is_split and action in ("frontend", "backend"):
            url = split_form.cleaned_data[f"{action}_url"].strip() or None
            deployment_services.deployment_request_single(
                user=request.user,
                git_url=url,
                project=project,
                component_type=action,
                trigger=Deployment.Trigger.UI,
            )
        elif is_split:
            raise ApplicationError("Choose Deploy All, Deploy Frontend or Deploy Backend.")
        else:
            data = single_form.cleaned_data if single_form else {}
            deployment_services.deployment_request_single(
                user=request.user,
                git_url=(data.get("git_url") or "").strip() or None,
                project=project,
                branch=data.get("branch", "").strip() if single_form else None,
                trigger=Deployment.Trigger.UI,
            )
    except ApplicationError as exc:
        form = (
            split_form
            if is_split
            else (single_form or SingleDeployForm(initial={"git_url": project.git_url}))
        )
        if form.is_bound:
            add_service_error(form, exc)
            error = None if exc.field in form.fields else exc.message
        else:
            error = exc.message
        context = _deploy_context(
            request, project, single_form=single_form, split_form=split_form, error=error
        )
        return render(request, "web/project/deploy.html", context, status=exc.status_code)
    return _to("project", project)


def _detect_repos(
    project: Project, children: dict[str, Project], form
) -> list[env_services.RepoToScan]:
    data = form.cleaned_data if form is not None and form.is_bound and form.is_valid() else {}
    if "frontend_url" in (form.fields if form is not None else {}):
        urls = project.split_urls or ("", "")
        repos = []
        for index, component in enumerate(("frontend", "backend")):
            url = (
                (data.get(f"{component}_url") or "").strip()
                or urls[index]
                or (children[component].git_url if component in children else "")
            )
            if url:
                target = children.get(component) or project
                repos.append(env_services.RepoToScan(component, url, target.branch, project=target))
        return repos
    url = (data.get("git_url") or "").strip() or project.git_url
    return [
        env_services.RepoToScan(None, url, (data.get("branch") or project.branch), project=project)
    ]


def _suggestions(project: Project, children: dict[str, Project], form) -> dict:
    result = env_services.envvars_detect(repos=_detect_repos(project, children, form))
    rows = []
    for name, found in result["suggestions"].items():
        components = [c for c in found.get("components") or [found.get("component")] if c] or [None]
        rows.append(
            {
                "key": name,
                "found": found,
                "components": components,
                "import_values": [f"{c}:{name}" if c else name for c in components],
            }
        )
    return {
        "rows": rows,
        "result": result,
        "missing": sum(1 for r in rows if not r["found"]["is_set"]),
    }


def detect_page(
    request, project: Project, *, children, is_split: bool, form, action: str
) -> HttpResponse:
    """The detection dialog as a page (what a browser without JavaScript gets)."""
    context = {
        **_nav(project, "deploy", is_split=is_split),
        **_suggestions(project, children, form),
        "form": form,
        "action": action,
        "as_page": True,
    }
    return render(request, "web/project/detect.html", context)


@project_page
@require_GET
def detect(request: HttpRequest, project: Project) -> HttpResponse:
    """The detection dialog's body (project.js loads it into the dialog): the variables the
    code reads, for the URLs in the query (the deploy form's), else the project's."""
    children = _children(project)
    is_split = _is_split(project, children)
    form_class = SplitDeployForm if is_split else SingleDeployForm
    form = form_class(request.GET) if request.GET else None
    context = {
        **_nav(project, "deploy", is_split=is_split),
        **_suggestions(project, children, form),
        "action": request.GET.get("action", "deploy"),
        "as_page": False,
    }
    return render(request, "web/partials/project_detect.html", context)


def _deployment_of(request, project: Project, deployment_id: int) -> Deployment:
    deployment = deployment_selectors.deployment_get_for_user(
        user=request.user, deployment_id=deployment_id
    )
    if deployment.project_id != project.id and deployment.project.parent_id != project.id:
        raise Http404("No such deployment.")
    return deployment


@project_page
@require_GET
def deployment_panel(request: HttpRequest, project: Project, deployment_id: int) -> HttpResponse:
    """One deployment's panel, re-rendered when its live stream ends (URL, error, duration)."""
    deployment = _deployment_of(request, project, deployment_id)
    return render(
        request,
        "web/partials/project_deployment.html",
        {"project": project, "panel": _panel(deployment)},
    )


@project_page
@require_POST
def deployment_cancel(request: HttpRequest, project: Project, deployment_id: int) -> HttpResponse:
    deployment = _deployment_of(request, project, deployment_id)
    try:
        deployment = deployment_services.deployment_cancel(
            deployment=deployment, by=request.user.username
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        done = "cancelled" if deployment.is_finished else "being cancelled"
        messages.success(request, f"Deployment #{deployment.number} {done}.")
    back = request.POST.get("next")
    return _to("project_deployments" if back == "deployments" else "project", project)


@project_page
def deployment_rollback(request: HttpRequest, project: Project, deployment_id: int) -> HttpResponse:
    """GET: the confirmation (without JavaScript; with it, a dialog asks). POST: roll back, then
    the Deploy page follows the new deployment."""
    deployment = _deployment_of(request, project, deployment_id)
    children = _children(project)
    context = {
        **_nav(project, "deployments", is_split=_is_split(project, children)),
        "deployment": deployment,
    }
    if request.method != "POST":
        return render(request, "web/project/rollback.html", context)
    try:
        created = deployment_services.deployment_rollback(
            project=project, deployment_id=deployment.id
        )
    except ApplicationError as exc:
        context["error"] = exc.message
        return render(request, "web/project/rollback.html", context, status=exc.status_code)
    versions = ", ".join(f"v{d.release.number}" for d in created.values() if d.release_id)
    messages.success(request, f"Rolling back to {versions}.")
    return _to("project", project)


# ---------------------------------------------------------------------------------------------
# Deployments


def _rollback_states(project: Project, deployments: list[Deployment]) -> dict[int, str | None]:
    """For each deployment: None if it can be rolled back to, else why not ('' = not a release)."""
    context = deployment_selectors.release_context(project=project, runtime=get_runtime())
    states: dict[int, str | None] = {}
    for deployment in deployments:
        release = deployment.release
        if release is None or deployment.status not in (S.RUNNING, S.SUPERSEDED):
            states[deployment.id] = ""
        elif release.id in context["current_ids"]:
            states[deployment.id] = "running now"
        elif release.compose_project:
            states[deployment.id] = "a compose stack: deploy that commit again"
        elif release.image_tag not in context["present_tags"]:
            states[deployment.id] = "its image was removed"
        else:
            states[deployment.id] = None
    return states


@project_page
@require_GET
def deployments_page(request: HttpRequest, project: Project) -> HttpResponse:
    children = _children(project)
    paginator = Paginator(
        deployment_selectors.deployment_list_for_project(project=project), DEPLOYMENTS_PER_PAGE
    )
    page = paginator.get_page(request.GET.get("page"))
    deployments = list(page.object_list)
    states = _rollback_states(project, deployments)
    rows = [
        {
            "deployment": d,
            "duration": _duration(d),
            "rollback": states[d.id] is None,
            "rollback_note": states[d.id],
            "can_cancel": not d.is_finished,
            "trigger": TRIGGERS.get(d.trigger, d.trigger),
        }
        for d in deployments
    ]
    context = {
        **_nav(project, "deployments", is_split=_is_split(project, children)),
        "rows": rows,
        "page": page,
    }
    return render(request, "web/project/deployments.html", context)


# ---------------------------------------------------------------------------------------------
# Configuration and domains


def _configuration_context(project: Project, *, form=None, domain_form=None) -> dict:
    children = _children(project)
    is_split = _is_split(project, children)
    form = form or ConfigurationForm(
        initial={
            "app_name": project.app_name,
            "strategy": project.strategy,
            "root_dir": project.root_dir,
        }
    )
    if is_split:
        form.fields.pop("strategy", None)
        form.fields.pop("root_dir", None)
    return {
        **_nav(project, "configuration", is_split=is_split),
        "form": form,
        "domain_form": domain_form or DomainForm(),
        "addresses": addresses.project_addresses(project),
        "components": [
            children[c]
            for c in (Project.Component.FRONTEND, Project.Component.BACKEND)
            if c in children
        ],
    }


@project_page
def configuration_page(request: HttpRequest, project: Project) -> HttpResponse:
    if request.method != "POST":
        return render(request, "web/project/configuration.html", _configuration_context(project))
    form = ConfigurationForm(request.POST)
    context = _configuration_context(project, form=form)  # drops the fields a multi-repo lacks
    if form.is_valid():
        data = form.cleaned_data
        try:
            if data["app_name"] != project.app_name:
                project_services.project_rename(project=project, app_name=data["app_name"])
            if "strategy" in form.fields:
                project_services.project_set_build(
                    project=project,
                    strategy=data.get("strategy") or "auto",
                    root_dir=data.get("root_dir") or "",
                )
        except ApplicationError as exc:
            project.refresh_from_db()
            add_service_error(form, exc, default="app_name")
        else:
            messages.success(request, "Configuration saved.")
            return _to("project_configuration", project)
    return render(request, "web/project/configuration.html", context, status=400)


@project_page
@require_POST
def domain_add(request: HttpRequest, project: Project) -> HttpResponse:
    form = DomainForm(request.POST)
    if form.is_valid():
        try:
            domain, created = proxy_services.domain_add(
                project=project, domain=form.cleaned_data["domain"]
            )
        except ApplicationError as exc:
            add_service_error(form, exc, default="domain")
        else:
            messages.success(
                request, f"{domain.domain} {'added' if created else 'was already added'}."
            )
            return _to("project_configuration", project)
    context = _configuration_context(project, domain_form=form)
    return render(request, "web/project/configuration.html", context, status=400)


@project_page
@require_POST
def domain_remove(request: HttpRequest, project: Project) -> HttpResponse:
    name = request.POST.get("domain", "")
    try:
        proxy_services.domain_remove(project=project, domain=name)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{name.strip().lower()} removed.")
    return _to("project_configuration", project)


# ---------------------------------------------------------------------------------------------
# Environment variables


def _env_target(
    request, project: Project, children: dict[str, Project], source
) -> tuple[Project, str]:
    """The project whose variables are addressed: a multi-repo parent's shared set ('') or a
    component's ('frontend'/'backend')."""
    component = (source.get("component") or "").strip()
    if not component:
        return project, ""
    if component not in children:
        raise Http404("No such component.")
    return children[component], component


def _env_query(component: str, **extra) -> str:
    from urllib.parse import urlencode

    params = {"component": component, **extra} if component else extra
    return urlencode(params)


@sensitive_variables()
def _env_context(
    request,
    project: Project,
    *,
    target,
    component,
    children,
    form=None,
    import_form=None,
    error=None,
) -> dict:
    listing = env_selectors.envvars_list(project=target)
    reveal = request.GET.get("reveal") if request.method == "GET" else None
    inherited = []
    if target.parent_id:
        own = {item.key for item in listing.items}
        inherited = [
            k for k in env_selectors.envvar_keys(project=project, inherited=False) if k not in own
        ]
    rows = [
        {
            "key": item.key,
            "is_build_time": item.is_build_time,
            "revealed": item.value if item.key == reveal else None,
            "updated_at": item.updated_at,
        }
        for item in listing.items
    ]
    family = [project, *children.values()]
    return {
        **_nav(project, "env", is_split=_is_split(project, children)),
        "target": target,
        "component": component,
        "tabs": [("", "Shared")]
        + [
            (c, c.capitalize())
            for c in (Project.Component.FRONTEND, Project.Component.BACKEND)
            if c in children
        ],
        "rows": rows,
        "unreadable": sorted(listing.errors),
        "inherited": sorted(inherited),
        "form": form or EnvVarForm(),
        "import_form": import_form or EnvImportForm(),
        "redeploy_needed": any(p.redeploy_needed for p in family),
        "has_running": any(p.status == "running" for p in family),
        "error": error,
        "query": _env_query(component),
    }


def _env_render(request, project, context, status=200) -> HttpResponse:
    response = render(request, "web/project/env.html", context, status=status)
    add_never_cache_headers(response)
    return response


@project_page
@require_GET
def env_page(request: HttpRequest, project: Project) -> HttpResponse:
    children = _children(project)
    target, component = _env_target(request, project, children, request.GET)
    return _env_render(
        request,
        project,
        _env_context(request, project, target=target, component=component, children=children),
    )


@sensitive_post_parameters("value")
@project_page
@require_POST
def env_set(request: HttpRequest, project: Project) -> HttpResponse:
    children = _children(project)
    target, component = _env_target(request, project, children, request.POST)
    form = EnvVarForm(request.POST)
    if form.is_valid():
        key = form.cleaned_data["key"]
        try:
            _row, created = env_services.envvar_set(
                project=target, key=key, value=form.cleaned_data["value"]
            )
        except ApplicationError as exc:
            add_service_error(form, exc, default="value")
        else:
            messages.success(request, f"{key} {'added' if created else 'saved'}.")
            return _to("project_env", project, _env_query(component))
    context = _env_context(
        request, project, target=target, component=component, children=children, form=form
    )
    return _env_render(request, project, context, status=400)


@project_page
@require_POST
def env_delete(request: HttpRequest, project: Project) -> HttpResponse:
    children = _children(project)
    target, component = _env_target(request, project, children, request.POST)
    key = request.POST.get("key", "")
    try:
        env_services.envvar_delete(project=target, key=key)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{key} deleted.")
    return _to("project_env", project, _env_query(component))


@sensitive_post_parameters("content")
@project_page
@require_POST
def env_import(request: HttpRequest, project: Project) -> HttpResponse:
    children = _children(project)
    target, component = _env_target(request, project, children, request.POST)
    form = EnvImportForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            if data.get("file"):
                content, field = env_services.dotenv_upload_read(data["file"]), "file"
            else:
                content, field = data["content"], "content"
            try:
                result = env_services.envvars_import_dotenv(
                    project=target, content=content, replace=data["replace"]
                )
            except ApplicationError as exc:
                raise ApplicationError(exc.message, field=field) from None
        except ApplicationError as exc:
            add_service_error(form, exc, default="content")
        else:
            count = result["imported"]
            messages.success(request, f"Imported {count} variable{'' if count == 1 else 's'}.")
            return _to("project_env", project, _env_query(component))
    context = _env_context(
        request, project, target=target, component=component, children=children, import_form=form
    )
    return _env_render(request, project, context, status=400)


@project_page
@require_GET
def env_export(request: HttpRequest, project: Project) -> HttpResponse:
    children = _children(project)
    target, _component = _env_target(request, project, children, request.GET)
    response = HttpResponse(
        env_services.envvars_export_dotenv(project=target), content_type="text/plain; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{target.app_name}.env"'
    add_never_cache_headers(response)
    return response


@project_page
@require_GET
@sensitive_variables()
def env_reveal(request: HttpRequest, project: Project) -> HttpResponse:
    """One value, for the row's Reveal button (htmx); without JavaScript, the page with it shown."""
    children = _children(project)
    target, component = _env_target(request, project, children, request.GET)
    key = request.GET.get("key", "")
    if not request.htmx:
        return _to("project_env", project, _env_query(component, reveal=key))
    values = env_selectors.envvars_list(project=target).variables
    if key not in values:
        raise Http404("No such variable.")
    response = render(
        request, "web/partials/project_env_value.html", {"key": key, "value": values[key]}
    )
    add_never_cache_headers(response)
    return response


# ---------------------------------------------------------------------------------------------
# Logs


@project_page
@require_GET
def logs_page(request: HttpRequest, project: Project) -> HttpResponse:
    children = _children(project)
    is_split = _is_split(project, children)
    component = request.GET.get("component") or ""
    if is_split:
        if component not in children:
            component = (
                "backend"
                if "backend" in children
                else ("frontend" if "frontend" in children else "")
            )
    else:
        component = ""
    context = {
        **_nav(project, "logs", is_split=is_split),
        "component": component,
        "component_tabs": [
            c for c in (Project.Component.FRONTEND, Project.Component.BACKEND) if c in children
        ],
        "nothing_yet": is_split and not children,
        "ws": f"/ws/projects/{project.id}/logs/?tail=200"
        + (f"&component={component}" if component else ""),
    }
    return render(request, "web/project/logs.html", context)

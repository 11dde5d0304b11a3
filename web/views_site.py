"""Pages outside a project: the dashboard, "+ New Deploy", settings, and a project's rename
and delete (asked for from its dashboard card).

Views are thin: a permission-scoped selector, a form, the service the API uses, a redirect.
With JavaScript off every form posts and redirects; with htmx the rename and delete dialogs
swap their bodies in place and tell the page what changed (HX-Trigger), and the dashboard
follows `ws/events/` (static/web/js/site.js)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Q, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.utils.timesince import timesince
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services as account_services
from core.errors import ApplicationError
from deployments.models import Deployment, Release
from projects import selectors as project_selectors
from projects import services as project_services
from projects.models import Project
from web.forms_site import NewDeployForm, PasswordForm, ProfileForm, RenameForm, add_service_error

# A project's status as its badge shows it: (text, badge class). site.js gets the same table.
STATUS_BADGES = {
    Project.Status.IMPORTED: ("Imported", "imported"),
    Project.Status.IMPORTED_SPLIT: ("Imported", "imported"),
    Project.Status.QUEUED: ("Queued", "queued"),
    Project.Status.DEPLOYING: ("Deploying", "building"),
    Project.Status.RUNNING: ("Running", "running"),
    Project.Status.SUCCESS: ("Running", "running"),
    Project.Status.STOPPED: ("Stopped", "stopped"),
    Project.Status.MISSING: ("Missing", "failed"),
    Project.Status.FAILED: ("Failed", "failed"),
}
# A deployment in progress says which phase it is in on its project's card.
PHASE_BADGES = {
    Deployment.Status.QUEUED: ("Queued", "queued"),
    Deployment.Status.CLONING: ("Cloning", "building"),
    Deployment.Status.BUILDING: ("Building", "building"),
    Deployment.Status.STARTING: ("Starting", "building"),
}
SERVING = {Project.Status.RUNNING, Project.Status.SUCCESS}
# Part B's logs dialog and its script: the dashboard's Logs buttons open it once both exist
# (until then they link to the project's Logs page).
LOGS_DIALOG = "web/partials/logs_dialog.html"
LOGS_SCRIPT = "web/js/logs.js"


def badge_of(project: Project) -> tuple[str, str]:
    return STATUS_BADGES.get(project.status, (project.status.replace("_", " ").title(), "imported"))


def serves(project: Project) -> bool:
    return project.status in SERVING and bool(project.deployed_url)


def _logs_dialog() -> str | None:
    try:
        get_template(LOGS_DIALOG)
    except TemplateDoesNotExist:
        return None
    return LOGS_DIALOG if finders.find(LOGS_SCRIPT) else None


def dashboard_projects(*, user, project_id: int | None = None) -> list[Project]:
    """The user's top-level projects for the dashboard, each with `last_deploy_at` (its own
    deployments or its components'), in a fixed number of queries however many there are."""
    last_deploy = (
        Deployment.objects.filter(
            Q(project_id=OuterRef("pk")) | Q(project__parent_id=OuterRef("pk"))
        )
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    qs = project_selectors.project_list_for_user(user=user).prefetch_related(None)
    if project_id is not None:
        qs = qs.filter(id=project_id)
    projects = list(qs.annotate(last_deploy_at=Subquery(last_deploy)))
    for project in projects:
        decorate_card(project)
    return projects


def decorate_card(project: Project) -> Project:
    """What the card shows, worked out here once: the card template only reads attributes
    (a `{% url %}` or a localized number per card is what makes 200 cards slow)."""
    pid = str(project.id)
    project.pid = pid
    project.page_url = f"/apps/{pid}/"
    project.badge_text, project.badge_class = badge_of(project)
    project.serves = serves(project)
    project.kind_label = (
        "Multi-Repository" if project.git_url.startswith("split::") else "Single Repository"
    )
    project.is_split = project.git_url.startswith("split::")
    when = getattr(project, "last_deploy_at", None)
    project.last_deploy_iso = when.isoformat() if when else ""
    project.last_deploy_ago = f"{timesince(when)} ago" if when else ""
    return project


def _badge_table() -> str:
    table = {"project": {str(k): v for k, v in STATUS_BADGES.items()}}
    table["phase"] = {str(k): v for k, v in PHASE_BADGES.items()}
    table["serving"] = sorted(str(s) for s in SERVING)
    return json.dumps(table)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    projects = dashboard_projects(user=request.user)
    return render(
        request,
        "web/site/dashboard.html",
        {
            "projects": projects,
            "badge_table": _badge_table(),
            "logs_dialog": _logs_dialog(),
        },
    )


@login_required
def project_card(request: HttpRequest, project_id: int) -> HttpResponse:
    """One dashboard card (site.js asks for a project it did not show yet)."""
    project = project_selectors.project_get_for_user(
        user=request.user, project_id=project_id, include_children=False
    )
    [project] = dashboard_projects(user=request.user, project_id=project.id)
    context = {"project": project, "logs_dialog": _logs_dialog()}
    return render(request, "web/partials/site_project_card.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def new_deploy(request: HttpRequest) -> HttpResponse:
    form = NewDeployForm(request.POST or None, initial={"kind": request.GET.get("kind", "single")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if data["kind"] == NewDeployForm.KIND_SPLIT:
                project = project_services.project_import_split(
                    owner=request.user,
                    frontend_url=data["frontend_url"],
                    backend_url=data["backend_url"],
                    app_name=data["app_name"] or None,
                    branch=data["branch"] or None,
                )
            else:
                project = project_services.project_import(
                    owner=request.user,
                    git_url=data["git_url"],
                    app_name=data["app_name"] or None,
                    branch=data["branch"] or None,
                )
        except (ApplicationError, ValidationError) as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Imported {project.app_name}. Deploy it when ready.")
            # The project's Deploy page (web/urls_project.py) deploys it, detection first.
            return redirect(f"/apps/{project.id}/")
    kind = form["kind"].value() or NewDeployForm.KIND_SINGLE
    return render(request, "web/site/new.html", {"form": form, "kind": kind})


def _project_of(request: HttpRequest, project_id: int) -> Project:
    return project_selectors.project_get_for_user(
        user=request.user, project_id=project_id, include_children=False
    )


def _hx_done(event: str, detail: dict, toast: str) -> HttpResponse:
    response = HttpResponse(status=204)
    response["HX-Trigger"] = json.dumps(
        {event: detail, "butler:toast": {"text": toast, "kind": "success"}}
    )
    return response


@login_required
@require_http_methods(["GET", "POST"])
def project_rename(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project_of(request, project_id)
    form = RenameForm(request.POST or None, initial={"app_name": project.app_name})
    if request.method == "POST" and form.is_valid():
        try:
            project_services.project_rename(project=project, app_name=form.cleaned_data["app_name"])
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            text = f"Renamed to {project.app_name}."
            if request.htmx:
                return _hx_done(
                    "butler:renamed", {"id": project.id, "name": project.app_name}, text
                )
            messages.success(request, text)
            return redirect("web:dashboard")
    context = {"project": project, "form": form}
    if request.htmx:
        return render(request, "web/partials/site_rename_form.html", context)
    return render(request, "web/site/rename.html", context)


def delete_summary(project: Project) -> dict:
    """What deleting the project removes, as the confirmation lists it."""
    family = [project, *project.children.order_by("component_type")]
    containers = sorted({p.container_name for p in family if p.container_name})
    images = sorted(
        set(
            Release.objects.filter(project__in=family)
            .exclude(image_tag="")
            .values_list("image_tag", flat=True)
        )
    )
    deployments = Deployment.objects.filter(project__in=family).count()
    return {
        "components": family[1:],
        "containers": containers,
        "images": images,
        "deployments": deployments,
    }


@login_required
@require_http_methods(["GET", "POST"])
def project_delete(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _project_of(request, project_id)
    if request.method == "POST":
        name = project.app_name
        deleted_id = project.id
        project_services.project_delete(project=project)
        text = f"Deleted {name} and everything it ran."
        if request.htmx:
            return _hx_done("butler:deleted", {"id": deleted_id}, text)
        messages.success(request, text)
        return redirect("web:dashboard")
    context = {"project": project, **delete_summary(project)}
    if request.htmx:
        return render(request, "web/partials/site_delete_confirm.html", context)
    return render(request, "web/site/delete.html", context)


def _profile_initial(user) -> dict:
    return {"username": user.username, "email": user.email}


def _settings_page(request, *, profile=None, password=None) -> HttpResponse:
    return render(
        request,
        "web/site/settings.html",
        {
            "profile_form": profile or ProfileForm(initial=_profile_initial(request.user)),
            "password_form": password or PasswordForm(),
            "password_open": password is not None,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _settings_page(request)
    form = ProfileForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            account_services.user_update(
                user=request.user,
                username=data["username"],
                email=data["email"],
                avatar=data.get("avatar") or None,
            )
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Profile saved.")
            return redirect("web:settings")
    request.user.refresh_from_db()
    return _settings_page(request, profile=form)


@login_required
@require_POST
def avatar_remove(request: HttpRequest) -> HttpResponse:
    if request.user.avatar:
        account_services.user_remove_avatar(user=request.user)
        messages.success(request, "Avatar removed.")
    else:
        messages.info(request, "You have no avatar to remove.")
    return redirect("web:settings")


@login_required
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _settings_page(request, password=PasswordForm())
    form = PasswordForm(request.POST)
    if form.is_valid():
        try:
            account_services.user_change_password(
                user=request.user,
                current_password=form.cleaned_data["current_password"],
                new_password=form.cleaned_data["new_password"],
            )
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            update_session_auth_hash(request, request.user)
            messages.success(request, "Password changed. Other sessions and tokens are signed out.")
            return redirect("web:settings")
    return _settings_page(request, password=form)

"""URLs. API paths have no trailing slash (docs/api.md) (TrailingSlashTolerantMiddleware accepts one)."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import apis as account_apis
from butler_site.health import HealthApi
from deployments import apis as deployment_apis
from deployments.proxy import apis as proxy_apis
from envvars import apis as envvar_apis
from projects import apis as project_apis


def api(route: str, view, name: str):
    """An API path without a trailing slash (the middleware tolerates one)."""
    return re_path(rf"^{route}$", view, name=name)


urlpatterns = [
    api("health", HealthApi.as_view(), "health"),
    api("api/auth/register", account_apis.RegisterApi.as_view(), "api-register"),
    api("api/auth/login", account_apis.LoginApi.as_view(), "api-login"),
    api("api/auth/refresh", account_apis.RefreshApi.as_view(), "api-refresh"),
    api("api/auth/logout", account_apis.LogoutApi.as_view(), "api-logout"),
    api("api/user/profile", account_apis.ProfileApi.as_view(), "api-profile"),
    api("api/import", project_apis.ImportApi.as_view(), "api-import"),
    api("api/import-split", project_apis.ImportSplitApi.as_view(), "api-import-split"),
    api("deployments", project_apis.ProjectListApi.as_view(), "project-list"),
    api("api/projects", project_apis.ProjectListApi.as_view(), "api-project-list"),
    api(
        r"deployments/(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)",
        project_apis.ProjectDestroyByNameApi.as_view(),
        "project-destroy-by-name",
    ),
    api(
        r"api/projects/(?P<project_id>\d+)", project_apis.ProjectDetailApi.as_view(), "api-project"
    ),
    api(r"projects/(?P<project_id>\d+)", project_apis.ProjectDetailApi.as_view(), "project-detail"),
    api(
        r"projects/(?P<project_id>\d+)/components",
        project_apis.ProjectComponentsApi.as_view(),
        "project-components",
    ),
    api(
        r"api/projects/(?P<project_id>\d+)/git-credential",
        project_apis.GitCredentialApi.as_view(),
        "api-project-git-credential",
    ),
    api(
        r"api/projects/(?P<project_id>\d+)/git-token",
        project_apis.GitTokenApi.as_view(),
        "api-project-git-token",
    ),
    api(
        r"api/projects/(?P<project_id>\d+)/deploy-key",
        project_apis.DeployKeyApi.as_view(),
        "api-project-deploy-key",
    ),
    api("deploy", deployment_apis.DeployApi.as_view(), "deploy"),
    api(
        r"api/deployments/(?P<deployment_id>\d+)",
        deployment_apis.DeploymentDetailApi.as_view(),
        "api-deployment",
    ),
    api(
        r"api/deployments/(?P<deployment_id>\d+)/logs",
        deployment_apis.DeploymentLogsApi.as_view(),
        "api-deployment-logs",
    ),
    api(
        r"api/projects/(?P<project_id>\d+)/deployments",
        deployment_apis.ProjectDeploymentsApi.as_view(),
        "api-project-deployments",
    ),
    api(
        r"api/deployments/(?P<deployment_id>\d+)/cancel",
        deployment_apis.DeploymentCancelApi.as_view(),
        "api-deployment-cancel",
    ),
    api(
        r"api/projects/(?P<project_id>\d+)/logs",
        deployment_apis.ProjectRuntimeLogsApi.as_view(),
        "api-project-logs",
    ),
    api(
        r"api/projects/(?P<project_id>\d+)/releases",
        deployment_apis.ProjectReleasesApi.as_view(),
        "api-project-releases",
    ),
    api(
        r"api/projects/(?P<project_id>\d+)/rollback",
        deployment_apis.ProjectRollbackApi.as_view(),
        "api-project-rollback",
    ),
    api(
        r"api/projects/(?P<project_id>\d+)/cancel",
        deployment_apis.ProjectCancelApi.as_view(),
        "api-project-cancel",
    ),
    *[
        api(
            rf"api/projects/(?P<project_id>\d+)/{action}",
            deployment_apis.ProjectContainerActionApi.as_view(action_name=action),
            f"api-project-{action}",
        )
        for action in ("stop", "start", "restart")
    ],
    api(
        r"api/projects/(?P<project_id>\d+)/domains",
        proxy_apis.DomainsApi.as_view(),
        "api-project-domains",
    ),
    api(
        r"api/projects/(?P<project_id>\d+)/domains/(?P<domain>[^/]+)",
        proxy_apis.DomainDetailApi.as_view(),
        "api-project-domain",
    ),
    api("api/env-vars", envvar_apis.EnvVarsApi.as_view(), "api-env-vars"),
    api("api/env-vars/import", envvar_apis.EnvVarsImportApi.as_view(), "api-env-vars-import"),
    api("api/env-vars/export", envvar_apis.EnvVarsExportApi.as_view(), "api-env-vars-export"),
    api("api/env-vars/detect", envvar_apis.EnvVarsDetectApi.as_view(), "api-env-vars-detect"),
    api(r"api/env-vars/(?P<key>[^/]+)", envvar_apis.EnvVarKeyApi.as_view(), "api-env-var"),
    api("api/schema", SpectacularAPIView.as_view(), "api-schema"),
    api("api/docs", SpectacularSwaggerView.as_view(url_name="api-schema"), "api-docs"),
    re_path(
        r"^avatars/(?P<path>[A-Za-z0-9_]+\.(?:png|jpg|gif|webp))$",
        serve,
        {"document_root": settings.MEDIA_ROOT / "avatars"},
        name="avatar",
    ),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("", include("web.urls")),
    path("", include("projects.urls")),
]

"""A project's pages: Deploy, Configuration, Environment Variables, Deployments, Logs.

Included under `apps/<int:project_id>/` by web/urls.py, so every view gets `project_id`.
"""

from django.urls import path

from web import views_project as views

urlpatterns = [
    path("", views.deploy_page, name="project"),
    path("deploy/", views.deploy_submit, name="project_deploy"),
    path("detect/", views.detect, name="project_detect"),
    path("deployments/", views.deployments_page, name="project_deployments"),
    path(
        "deployments/<int:deployment_id>/panel/",
        views.deployment_panel,
        name="project_deployment_panel",
    ),
    path(
        "deployments/<int:deployment_id>/cancel/",
        views.deployment_cancel,
        name="project_deployment_cancel",
    ),
    path(
        "deployments/<int:deployment_id>/rollback/",
        views.deployment_rollback,
        name="project_rollback",
    ),
    path("configuration/", views.configuration_page, name="project_configuration"),
    path("domains/add/", views.domain_add, name="project_domain_add"),
    path("domains/remove/", views.domain_remove, name="project_domain_remove"),
    path("env/", views.env_page, name="project_env"),
    path("env/set/", views.env_set, name="project_env_set"),
    path("env/delete/", views.env_delete, name="project_env_delete"),
    path("env/import/", views.env_import, name="project_env_import"),
    path("env/export/", views.env_export, name="project_env_export"),
    path("env/reveal/", views.env_reveal, name="project_env_reveal"),
    path("logs/", views.logs_page, name="project_logs"),
]

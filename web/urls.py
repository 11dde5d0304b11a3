"""The web UI's pages. A project's pages live under `apps/<id>/` (`projects/<id>` is the API)."""

from django.urls import include, path

from web import urls_project, urls_site

app_name = "web"

urlpatterns = [
    *urls_site.urlpatterns,
    path("apps/<int:project_id>/", include(urls_project)),
]

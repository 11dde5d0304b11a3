"""Pages outside a project: dashboard, new deploy, settings; a card's rename and delete."""

from django.urls import path

from web import views_site

urlpatterns = [
    path("", views_site.dashboard, name="dashboard"),
    path("new/", views_site.new_deploy, name="new"),
    path("settings/", views_site.settings_page, name="settings"),
    path("settings/avatar/remove/", views_site.avatar_remove, name="avatar_remove"),
    path("settings/password/", views_site.password_change, name="password"),
    path("apps/<int:project_id>/card/", views_site.project_card, name="project_card"),
    path("apps/<int:project_id>/rename/", views_site.project_rename, name="project_rename"),
    path("apps/<int:project_id>/delete/", views_site.project_delete, name="project_delete"),
]

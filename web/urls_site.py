"""Pages outside a project: dashboard, new deploy, settings."""

urlpatterns: list = []

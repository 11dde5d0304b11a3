"""A project's pages: Deploy, Configuration, Environment Variables, Deployments, Logs."""

urlpatterns: list = []

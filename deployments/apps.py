import gc
import sys

from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "deployments"

    def ready(self) -> None:
        from deployments.proxy.services import routes_forget
        from deployments.teardown import project_teardown
        from projects.lifecycle import on_project_delete

        on_project_delete(routes_forget)  # first: no request reaches a container being removed
        on_project_delete(project_teardown)
        if "qcluster" in sys.argv[1:2]:
            # Load the pipeline before the cluster forks its workers, and keep those objects
            # out of the collector's way, so the workers share these pages instead of each
            # importing (and paying for) their own copy.
            import deployments.runtime.docker_engine
            import deployments.tasks  # noqa: F401

            gc.freeze()

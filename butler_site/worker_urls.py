"""The worker's URLconf: it serves nothing (see `WORKER_PROCESS` in settings)."""

urlpatterns: list = []

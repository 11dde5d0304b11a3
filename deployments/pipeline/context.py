"""What one deployment's run carries from step to step, and the thread that watches over it.

`DeployContext` holds the deployment, its log, the runtime, the cancel token, the phase
timings and the work dir; it moves the deployment's status through `transitions` (never by
assignment). `Watchman` is the run's companion thread: it writes the heartbeat that tells the
reconcile this worker is alive, polls for a cancel request (or the deployment vanishing with
its project) often enough to stop the run within a second or two, and flushes the log, so a
build step that prints a line and then works quietly for minutes shows that line at once.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from core.cancel import CancelToken
from deployments import transitions
from deployments.models import Deployment
from deployments.pipeline.logs import DeploymentLog
from deployments.runtime import ContainerInfo, get_runtime
from projects.models import Project

CANCEL_POLL_SECONDS = 0.5


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class DeployContext:
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.project: Project = deployment.project
        self.log = DeploymentLog(deployment)
        self.runtime = get_runtime()
        self.cancel = CancelToken()
        self.workdir = Path(settings.BUTLER_WORK_DIR) / f"deployment-{deployment.id}"
        self.src = self.workdir / "src"  # the clone
        self.context = self.src  # the folder built: the clone, or its `root_dir`
        self.plan = None  # the build plan, once detection made one
        self.dockerfile_text = ""  # the Dockerfile built (to point at a line when it fails)
        self.code_reads: set[str] = set()  # variables the code reads (for explanations)
        self.timings: dict[str, float] = dict(deployment.phase_timings or {})
        # What this run made, so a failure or cancel can remove exactly that.
        self.built_image: str | None = None
        self.container: ContainerInfo | None = None
        self.compose_project: str | None = None
        self.routed_services: list[str] = []  # compose services routed besides the main one

    def save(self, **fields) -> None:
        """Record non-status fields of the deployment."""
        for name, value in fields.items():
            setattr(self.deployment, name, value)
        Deployment.objects.filter(id=self.deployment.id).update(**fields)

    def move(self, to: str, **fields) -> None:
        """The next status, through the transition service (raises `TransitionRefused`)."""
        self.cancel.raise_if_cancelled()
        transitions.deployment_move(self.deployment, to, phase_timings=self.timings, **fields)

    @contextmanager
    def phase(self, name: str):
        self.cancel.raise_if_cancelled()
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = round(time.monotonic() - started, 3)
            self.save(phase_timings=self.timings)

    def labels(self, release_project: Project | None = None) -> dict[str, str]:
        project = release_project or self.project
        return {
            "butler.project": str(project.id),
            "butler.deployment": str(self.deployment.id),
            "butler.app": project.app_name,
        }


class Watchman(threading.Thread):
    """Heartbeat and cancel watch for one running deployment."""

    def __init__(self, ctx: DeployContext) -> None:
        super().__init__(daemon=True, name=f"watch-deployment-{ctx.deployment.id}")
        self.ctx = ctx
        self._done = threading.Event()

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)

    def run(self) -> None:
        deployment_id = self.ctx.deployment.id
        next_beat = time.monotonic() + settings.BUTLER_HEARTBEAT_SECONDS
        try:
            while not self._done.wait(CANCEL_POLL_SECONDS):
                self.ctx.log.flush()
                row = (
                    Deployment.objects.filter(id=deployment_id)
                    .values("status", "cancel_requested_at", "error")
                    .first()
                )
                if row is None:
                    self.ctx.cancel.cancel("The project was deleted during the deployment.")
                elif row["cancel_requested_at"] is not None:
                    self.ctx.cancel.cancel(row["error"] or "Cancelled.")
                elif row["status"] not in Deployment.UNFINISHED:
                    # Someone else ended it (a reconcile that took this worker for dead).
                    self.ctx.cancel.cancel(row["error"] or f"The deployment is {row['status']}.")
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + settings.BUTLER_HEARTBEAT_SECONDS
                    Deployment.objects.filter(id=deployment_id).update(heartbeat_at=timezone.now())
        finally:
            close_old_connections()

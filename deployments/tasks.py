"""Worker tasks (django-q2). They take ids only and call the pipeline or a service; a task
that runs twice, or late, does nothing the second time (the claim is a conditional update)."""

from __future__ import annotations

from deployments import queue
from deployments.pipeline.execute import run_deployment as _run_deployment
from deployments.pipeline.logs import deployment_log_closed
from deployments.reconcile import reconcile as _reconcile


def run_deployment(deployment_id: int) -> str | None:
    with queue.running_task():
        outcome = _run_deployment(deployment_id)
        if outcome is not None:  # this worker ran it: its log is complete now
            deployment_log_closed(deployment_id=deployment_id)
        return outcome


def reconcile() -> dict:
    with queue.running_task():
        return _reconcile()

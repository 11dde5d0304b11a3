"""Worker tasks (django-q2). They take ids only and call the pipeline or a service."""

from __future__ import annotations

from deployments.pipeline.run import run_deployment as _run_deployment
from deployments.reconcile import reconcile as _reconcile


def run_deployment(deployment_id: int) -> str | None:
    return _run_deployment(deployment_id)


def reconcile() -> dict:
    return _reconcile()

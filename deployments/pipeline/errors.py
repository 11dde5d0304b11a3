"""What a failed deployment tells its user: `failure_message` turns any exception into the
`error` a user reads (what happened, what to do, the evidence); anything unforeseen is an
internal error whose details stay in the worker's log."""

from __future__ import annotations

import gitsources
from deployments.pipeline import compose_check
from deployments.pipeline.detect import DetectionError
from deployments.pipeline.ready import AppExited, NeverAnswered
from deployments.runtime.base import BuildFailed, ComposeFailed, RuntimeFailure


class PipelineFailure(Exception):
    """A failure whose message is fit for the user (and stored in `Deployment.error`)."""


# Errors whose message already says what happened and what to do; anything else is a bug.
EXPLAINED_FAILURES = (
    PipelineFailure,
    RuntimeFailure,
    gitsources.GitError,
    gitsources.GitSourceError,
    DetectionError,
    compose_check.ComposeRejected,
    AppExited,
    NeverAnswered,
)


def failure_message(exc: Exception) -> str:
    """What the user reads in `Deployment.error`: what happened, what to do, the evidence."""
    if isinstance(exc, BuildFailed):
        return f"{exc}\nLast lines of the build output:\n{exc.log_tail}".strip()
    if isinstance(exc, ComposeFailed):
        return f"{exc}\nLast lines of docker compose:\n{exc.output_tail}".strip()
    if isinstance(exc, AppExited):
        return (
            f"{exc} Check the start command and the app's log below.\n"
            f"Last 50 lines of the app's log:\n{exc.logs}"
        ).strip()
    if isinstance(exc, NeverAnswered):
        return f"{exc}\nLast 50 lines of the app's log:\n{exc.logs}".strip()
    if isinstance(exc, EXPLAINED_FAILURES):
        return str(exc)
    return f"Internal error ({exc.__class__.__name__}). The worker log has the details."

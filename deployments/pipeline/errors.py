"""What a failed deployment tells its user: `failure_message` turns any exception into the
`error` a user reads (what happened, what to do, the evidence); anything unforeseen is an
internal error whose details stay in the worker's log."""

from __future__ import annotations

import gitsources
from deployments.pipeline import compose_check
from deployments.pipeline.detect import DetectionError
from deployments.pipeline.explain import (
    Explanation,
    explain_build_failure,
    explain_missing_image,
)
from deployments.pipeline.ready import AppExited, NeverAnswered
from deployments.runtime.base import BaseImageMissing, BuildFailed, ComposeFailed, RuntimeFailure


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


def failure_message(exc: Exception, *, plan=None, image_exists=None, dockerfile_text="") -> str:
    """What the user reads in `Deployment.error`: what happened, what to do, the evidence.

    `plan` (the build plan, once there is one) and `image_exists` (the runtime's check) let a
    missing base image be explained precisely.
    """
    if isinstance(exc, BaseImageMissing):
        return str(_explain_missing_image(exc, plan, image_exists, dockerfile_text))
    if isinstance(exc, BuildFailed):
        why = explain_build_failure(exc.log_tail, str(exc))
        lead = f"{why}\n{exc}" if why else str(exc)
        return f"{lead}\nLast lines of the build output:\n{exc.log_tail}".strip()
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


def _explain_missing_image(
    exc: BaseImageMissing, plan, image_exists, dockerfile_text: str
) -> Explanation:
    if plan is None:
        return explain_missing_image(exc.image, generated=True)
    missing = []
    for image in plan.base_images:
        try:
            if image_exists is not None and not image_exists(image):
                missing.append(image)
        except RuntimeFailure:
            break
    return explain_missing_image(
        exc.image,
        generated=plan.generated_dockerfile is not None and plan.strategy != "dockerfile",
        dockerfile=plan.dockerfile or "Dockerfile",
        dockerfile_text=dockerfile_text or plan.generated_dockerfile or "",
        missing=missing,
        alternatives=plan.alternatives,
    )

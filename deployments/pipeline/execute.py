"""One deployment, start to end: what the worker's task runs.

    claim -> (fetch_source -> build_image | a kept release) -> run_image -> release -> switch

Every status change goes through `transitions`. A failure of any step fails the deployment
with a message that says what happened and what to do (`errors.failure_message`); a cancel
(the user's, or the project's deletion) stops whichever step runs within a second or two.
Either way what this run made (its container, its freshly built image, a compose stack that
never served) is removed, and whatever ran before keeps serving.
"""

from __future__ import annotations

import logging
import shutil

from django.conf import settings

from core.cancel import Cancelled
from deployments import transitions
from deployments.models import Deployment
from deployments.networks import build_network, project_network
from deployments.pipeline.build import Runnable, build_image, fetch_source
from deployments.pipeline.compose import deploy_compose
from deployments.pipeline.context import DeployContext, Watchman, worker_name
from deployments.pipeline.errors import EXPLAINED_FAILURES, PipelineFailure, failure_message
from deployments.pipeline.start import run_image
from deployments.proxy import routes_push
from deployments.proxy.addresses import NoFreePort, address_assign
from deployments.proxy.compose_routes import service_ports
from deployments.proxy.retire import retire_later
from deployments.releases import SnapshotUnreadable, release_record, releases_images_collect
from deployments.runtime.base import ContainerInfo, RuntimeFailure
from projects.addresses import public_url

logger = logging.getLogger(__name__)

S = Deployment.Status


def run_deployment(deployment_id: int) -> str | None:
    """Claim the deployment and run it to its end; None if it was not this worker's to run."""
    deployment = transitions.deployment_claim(deployment_id, worker=worker_name())
    if deployment is None:
        return None
    ctx = DeployContext(deployment)
    watchman = Watchman(ctx)
    watchman.start()
    try:
        _run(ctx)
        return S.RUNNING
    except Cancelled as exc:
        return _end(ctx, S.CANCELLED, str(exc) or "Cancelled.")
    except transitions.TransitionRefused as exc:
        # Someone else ended it (cancelled, or the project was deleted): clean up, stop.
        _cleanup(ctx)
        return exc.current
    except Exception as exc:
        message = ctx.log.mask(
            failure_message(
                exc,
                plan=ctx.plan,
                image_exists=ctx.runtime.image_exists,
                dockerfile_text=ctx.dockerfile_text,
            )
        )
        if not isinstance(exc, (*EXPLAINED_FAILURES, SnapshotUnreadable)):
            logger.exception("deployment %s failed unexpectedly", deployment_id)
        elif isinstance(exc, SnapshotUnreadable):
            message = str(exc)
        return _end(ctx, S.FAILED, message)
    finally:
        watchman.stop()
        shutil.rmtree(ctx.workdir, ignore_errors=True)
        ctx.log.flush()


def _run(ctx: DeployContext) -> None:
    d = ctx.deployment
    ctx.log.info(f"Deployment #{d.number} of {ctx.project.app_name} (trace {d.trace_id})")
    ctx.runtime.ping()
    _isolate(ctx)
    if d.trigger == Deployment.Trigger.ROLLBACK:
        release = d.release
        if release is None:
            raise PipelineFailure("The release to roll back to no longer exists.")
        ctx.log.info(
            f"Rolling back to release v{release.number} (commit {release.commit_sha[:12]}): "
            "no build, its image and its environment variables as they were"
        )
        if not ctx.runtime.image_exists(release.image_tag):
            raise PipelineFailure(
                f"The image of release v{release.number} was removed (only the last "
                f"{settings.BUTLER_KEEP_RELEASES} releases keep theirs). Deploy that commit again."
            )
        runnable = Runnable.of_release(release)
        container = run_image(ctx, runnable)
        _switch(ctx, runnable, container, env_applied_at=release.created_at)
        return
    source = fetch_source(ctx)
    if source.plan.strategy == "compose":
        release, container = deploy_compose(ctx, source)
        _switch(ctx, None, container, env_applied_at=source.env_read_at, release=release)
        return
    runnable = build_image(ctx, source)
    container = run_image(ctx, runnable)
    _switch(ctx, runnable, container, env_applied_at=source.env_read_at)


def _isolate(ctx: DeployContext) -> None:
    """The project's own network, the builds' network, and the firewall around them."""
    problem = ctx.runtime.ensure_isolation()
    if problem:
        if settings.BUTLER_FIREWALL == "on":
            raise PipelineFailure(
                f"The host firewall is required (BUTLER_FIREWALL=on) but cannot be set: {problem}."
            )
        ctx.log.warning(
            f"Warning: {problem}; apps and builds can reach services of this host. "
            "Run Butler as root on the Docker host, or set BUTLER_FIREWALL=off to accept this."
        )
    ctx.runtime.ensure_network(build_network(), labels={"butler.network": "build"})


def _switch(
    ctx: DeployContext,
    runnable: Runnable | None,
    container: ContainerInfo | None,
    *,
    env_applied_at,
    release=None,
) -> None:
    """The new container answers: record the release, make it the one that runs at the
    project's stable address, point the proxy at it, retire the old container after a grace
    period, collect old images."""
    if release is None:
        release = runnable.release
    if release is None:
        release, created = release_record(
            project=ctx.project,
            deployment=ctx.deployment,
            image_tag=runnable.image_tag,
            image_id=runnable.image_id,
            strategy=runnable.strategy,
            container_port=runnable.container_port,
            environment=runnable.environment,
            generated_dockerfile=runnable.generated_dockerfile,
        )
        again = "" if created else " (same image and variables as before)"
        ctx.log.info(f"Release v{release.number}{again}")
    host_port = container.host_port if container else None
    url = ""
    if host_port:
        try:
            project = address_assign(project=ctx.project)
        except NoFreePort as exc:
            raise PipelineFailure(exc.message) from None
        url = public_url(project.public_port)
    ctx.move(
        S.RUNNING,
        release=release,
        host_port=host_port,
        deployed_url=url,
        error="",
        project_fields={
            "deployed_url": url,
            "container_name": container.name if container else "",
            "env_applied_at": env_applied_at,
            "service_ports": (
                service_ports(ctx.runtime, ctx.compose_project, ctx.routed_services)
                if ctx.compose_project
                else {}
            ),
        },
    )
    # The proxy now sends new requests to this container; the old one finishes what it has
    # and is removed BUTLER_RETIRE_SECONDS later, by a timer (this worker moves on).
    if not routes_push():
        ctx.log.warning("The front proxy is not reachable: it gets the new route once it is back.")
    retire_later(project_id=ctx.project.id)
    releases_images_collect(project_id=ctx.project.id, runtime=ctx.runtime)
    total = round(sum(ctx.timings.values()), 1)
    ctx.log.info(f"Deployment successful! {url or '(no published port)'} (in {total} s)")


def _end(ctx: DeployContext, to: str, reason: str) -> str:
    """Fail or cancel: log why, remove what this run made, record the end."""
    if to == S.CANCELLED:
        ctx.log.warning(f"Cancelled: {reason}")
    else:
        for line in reason.splitlines():
            ctx.log.error(line)
    _cleanup(ctx)
    try:
        transitions.deployment_move(
            ctx.deployment,
            to,
            error=reason,
            phase_timings=ctx.timings,
        )
    except transitions.TransitionRefused as exc:
        return exc.current or to
    if Deployment.objects.filter(project_id=ctx.project.id, status=S.RUNNING).exists():
        ctx.log.info("The previous deployment keeps serving.")
    return to


def _cleanup(ctx: DeployContext) -> None:
    runtime = ctx.runtime
    try:
        if ctx.container is not None and not ctx.compose_project:
            runtime.remove_container(ctx.container.id)
        serving = Deployment.objects.filter(project_id=ctx.project.id, status=S.RUNNING).exists()
        if ctx.compose_project and not serving:
            runtime.compose_down(project_name=ctx.compose_project)
        if ctx.built_image:
            runtime.remove_image(ctx.built_image)
        family = [ctx.project.id, ctx.project.parent_id or 0]
        family_serves = (
            Deployment.objects.filter(status=S.RUNNING, project_id__in=family).exists()
            or Deployment.objects.filter(
                status=S.RUNNING, project__parent_id=ctx.project.parent_id or -1
            ).exists()
        )
        if not family_serves:
            runtime.remove_network(project_network(ctx.project))
    except RuntimeFailure:
        logger.warning(
            "cleanup after deployment %s was incomplete", ctx.deployment.id, exc_info=True
        )

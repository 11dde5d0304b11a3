"""Compose deploys: the file is checked and rewritten, then `compose up` builds and starts the
stack in one go, so build and run are not separate steps here and a compose release cannot be
rolled back to without a build (its images are rebuilt from source each time)."""

from __future__ import annotations

from django.conf import settings

from deployments.models import Deployment, Release
from deployments.networks import build_network, compose_project_name
from deployments.pipeline import compose_check
from deployments.pipeline.build import Source
from deployments.pipeline.context import DeployContext
from deployments.pipeline.errors import PipelineFailure
from deployments.pipeline.ready import wait_until_ready
from deployments.pipeline.start import ready_host
from deployments.proxy.compose_routes import publish_only_routed
from deployments.releases import release_record
from deployments.runtime.base import COMPOSE_SERVICE_LABEL, ContainerInfo


def deploy_compose(ctx: DeployContext, source: Source) -> tuple[Release, ContainerInfo | None]:
    plan = source.plan
    project_name = compose_project_name(ctx.project.id)
    # The stack runs on its own default network: nothing else joins it.
    checked = compose_check.check_compose(
        ctx.context, plan.compose_file, labels=ctx.labels(), network=""
    )
    ctx.routed_services = publish_only_routed(checked)
    compose_file = compose_check.write_compose(ctx.workdir, checked)
    ctx.log.info(
        f"Compose services: {', '.join(checked.services)}; main service: {checked.main_service}"
    )
    for note in checked.notes:
        ctx.log.info(note)
    ctx.move(Deployment.Status.BUILDING)
    ctx.compose_project = project_name
    ctx.save(compose_project=project_name)
    with ctx.phase("build"):
        ctx.runtime.compose_up(
            project_name=project_name,
            workdir=ctx.context,
            compose_file=str(compose_file),
            env=source.environment.env,
            on_output=ctx.log.build,
            timeout=settings.BUTLER_BUILD_TIMEOUT,
            cancel=ctx.cancel,
            build_network=build_network(),
            labels={k: v for k, v in ctx.labels().items() if k != "butler.deployment"},
        )
    ctx.move(Deployment.Status.STARTING)
    with ctx.phase("ready"):
        main = next(
            (
                c
                for c in ctx.runtime.compose_containers(project_name)
                if c.labels.get(COMPOSE_SERVICE_LABEL) == checked.main_service
            ),
            None,
        )
        if main is None:
            raise PipelineFailure(f"The main service '{checked.main_service}' did not start.")
        ctx.container = main
        ctx.save(container_name=main.name, container_id=main.id, container_port=main.container_port)
        if main.host_port is None:
            ctx.log.warning("The main service publishes no port: it has no URL.")
        else:
            ctx.container = wait_until_ready(
                ctx.runtime,
                main,
                host=ready_host(),
                timeout=settings.BUTLER_READY_TIMEOUT,
                may_move=False,
                cancel=ctx.cancel,
            )
    release, _created = release_record(
        project=ctx.project,
        deployment=ctx.deployment,
        image_tag="",
        image_id="",
        strategy=plan.strategy,
        container_port=ctx.container.container_port,
        environment=source.environment,
        compose_project=project_name,
    )
    ctx.save(release=release)
    return release, ctx.container

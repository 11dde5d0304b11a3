"""Running an image: start its container with its environment and wait until it answers.

A new build and a rollback (a kept release, with its env snapshot) end here alike. The
container that was serving keeps serving until this one answers HTTP; only then does
`execute` switch over.
"""

from __future__ import annotations

import time

from django.conf import settings

from deployments.models import Deployment
from deployments.networks import (
    aliases,
    container_name,
    project_network,
    project_network_labels,
)
from deployments.pipeline.build import Runnable
from deployments.pipeline.context import DeployContext
from deployments.pipeline.ready import Moved, wait_until_ready
from deployments.runtime.base import ContainerInfo, ContainerSpec


def run_image(ctx: DeployContext, runnable: Runnable) -> ContainerInfo:
    """Start `runnable` and return its container once it answers HTTP; the port it really
    listens on is kept in `runnable.container_port`. Raises what `wait_until_ready` raises."""
    env = runnable.environment.env
    ctx.log.secrets = runnable.environment.secrets
    if ctx.deployment.status != Deployment.Status.STARTING:  # a rollback was claimed into it
        ctx.move(Deployment.Status.STARTING)
    with ctx.phase("start"):
        network = project_network(ctx.project)
        ctx.runtime.ensure_network(network, labels=project_network_labels(ctx.project))
        port = runnable.container_port
        source = "the image's EXPOSE" if port else "PORT"
        if runnable.release is not None and port:
            source = f"release v{runnable.release.number}"
        port = port or settings.BUTLER_DEFAULT_PORT
        ctx.log.info(f"Starting the container with PORT={port} (from {source})")
        ctx.container = _start(ctx, runnable.image_tag, env, port)
    with ctx.phase("ready"):
        ctx.container = _wait_ready(ctx, runnable.image_tag, env)
    runnable.container_port = ctx.container.container_port or runnable.container_port
    return ctx.container


def ready_host() -> str:
    ip = settings.BUTLER_PUBLISH_IP
    return "127.0.0.1" if ip in {"0.0.0.0", "", "::"} else ip


def _start(ctx: DeployContext, image: str, env: dict[str, str], port: int) -> ContainerInfo:
    spec = ContainerSpec(
        name=container_name(ctx.project),
        image=image,
        env={**env, "PORT": str(port)},
        labels=ctx.labels(),
        container_port=port,
        network=project_network(ctx.project),
        aliases=aliases(ctx.project),
        memory=settings.BUTLER_CONTAINER_MEMORY,
        cpus=settings.BUTLER_CONTAINER_CPUS,
    )
    container = ctx.runtime.run_container(spec)
    ctx.save(container_name=container.name, container_id=container.id, container_port=port)
    return container


def _wait_ready(ctx: DeployContext, image: str, env: dict[str, str]) -> ContainerInfo:
    timeout = settings.BUTLER_READY_TIMEOUT
    started = time.monotonic()
    hints = {"env_names": set(env), "code_reads": ctx.code_reads}
    result = wait_until_ready(
        ctx.runtime, ctx.container, host=ready_host(), timeout=timeout, cancel=ctx.cancel, **hints
    )
    if isinstance(result, Moved):
        ctx.log.info(
            f"The app listens on port {result.port} ({result.reason}): republishing that port"
        )
        ctx.runtime.remove_container(ctx.container.id)
        ctx.container = None
        ctx.container = _start(ctx, image, env, result.port)
        remaining = max(10, int(timeout - (time.monotonic() - started)))
        result = wait_until_ready(
            ctx.runtime,
            ctx.container,
            host=ready_host(),
            timeout=remaining,
            may_move=False,
            cancel=ctx.cancel,
            **hints,
        )
    return result

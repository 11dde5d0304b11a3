"""Building: clone -> detect -> environment -> (generate a Dockerfile) -> image.

`fetch_source` clones the repository and works out how to build it; `build_image` builds the
image (or finds it already built: the tag is a hash of the build inputs) and returns what a
run needs. Nothing here starts a container: that is `start.py`, which a rollback calls with
a kept release and no build. The release is recorded once the container answers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

import gitsources
from core.fetch import fetch
from core.safefiles import UnsafePath, read_text
from deployments.models import Deployment, Release
from deployments.networks import build_network, image_repository
from deployments.pipeline import dockerfiles
from deployments.pipeline.context import DeployContext
from deployments.pipeline.detect import BuildPlan, detect_project
from deployments.pipeline.environment import resolve_environment, warn_unset
from deployments.pipeline.errors import PipelineFailure
from deployments.pipeline.remote_adds import RemoteAddRefused, localize_remote_adds
from deployments.releases import ReleaseEnv, release_env
from projects.credentials import credential_for_clone


@dataclass
class Source:
    plan: BuildPlan
    tree_sha: str
    environment: ReleaseEnv
    env_read_at: object  # when the project's variables were read (what `redeploy_needed` compares)


@dataclass
class Runnable:
    """What starting a container needs: a freshly built image, or a kept release's."""

    image_tag: str
    image_id: str
    container_port: int | None
    environment: ReleaseEnv
    strategy: str
    generated_dockerfile: str = ""
    release: Release | None = None  # set when running a kept release (a rollback)

    @classmethod
    def of_release(cls, release: Release) -> Runnable:
        return cls(
            image_tag=release.image_tag,
            image_id=release.image_id,
            container_port=release.container_port,
            environment=release_env(release),
            strategy=release.strategy,
            generated_dockerfile=release.generated_dockerfile,
            release=release,
        )


def fetch_source(ctx: DeployContext) -> Source:
    """Clone, detect, and settle the environment the release will carry."""
    d = ctx.deployment
    with ctx.phase("clone"):
        branch = f" (branch {d.branch})" if d.branch else ""
        ctx.log.info(f"Cloning {gitsources.sanitize(d.git_url)}{branch}")
        ctx.workdir.mkdir(parents=True, exist_ok=True)
        result = gitsources.clone(
            url=d.git_url,
            dest=ctx.src,
            branch=d.branch or None,
            on_output=ctx.log.build,
            cancel=ctx.cancel,
            credential=credential_for_clone(project=ctx.project),
        )
        ctx.save(commit_sha=result.commit_sha)
        ctx.log.info(f"Cloned commit {result.commit_sha[:12]} of branch {result.branch}")
    with ctx.phase("detect"):
        project = ctx.project
        plan = detect_project(ctx.src, strategy=project.strategy, root_dir=project.root_dir)
        ctx.plan = plan
        ctx.context = ctx.src / plan.context_dir
        ctx.save(strategy=plan.strategy, generated_dockerfile=plan.generated_dockerfile or "")
        where = f" in {plan.context_dir}/" if plan.context_dir else ""
        ctx.log.info(f"Detected{where}: {plan.summary}")
        for note in plan.notes:
            (ctx.log.warning if note in plan.warnings else ctx.log.info)(note)
    env_read_at = timezone.now()
    environment = resolve_environment(
        project=ctx.project, log=ctx.log, public_build_names=plan.build_args
    )
    unset, ctx.code_reads = warn_unset(src=ctx.context, env=environment.env, log=ctx.log)
    if plan.warnings or unset:
        ctx.save(warnings=[*ctx.deployment.warnings, *plan.warnings, *unset])
    return Source(
        plan=plan, tree_sha=result.tree_sha, environment=environment, env_read_at=env_read_at
    )


def image_tag(ctx: DeployContext, source: Source, dockerfile_text: str) -> str:
    """`<prefix>/<app>:<hash>`: the hash covers everything the image is built from."""
    plan = source.plan
    dockerfile = dockerfile_text.encode()
    digest = hashlib.sha256()
    for part in (
        settings.BUTLER_INSTANCE_ID,
        str(ctx.project.id),
        source.tree_sha,
        plan.context_dir,
        plan.dockerfile or "",
    ):
        digest.update(part.encode() + b"\0")
    digest.update(hashlib.sha256(dockerfile).digest())
    build_args = source.environment.build_args
    for key in sorted(build_args):
        digest.update(f"{key}={build_args[key]}".encode() + b"\0")
    return f"{image_repository(ctx.project)}:{digest.hexdigest()[:16]}"


def build_image(ctx: DeployContext, source: Source) -> Runnable:
    """Build the image, unless one with the same inputs exists; return what a run needs."""
    plan = source.plan
    # Nothing is written into the clone: a repository could have committed these names as
    # symlinks to files on this host.
    dockerignore = None
    try:
        if plan.generated_dockerfile:
            dockerfile_text = plan.generated_dockerfile
            ctx.log.info(f"Generated {plan.dockerfile}:")
            for line in plan.generated_dockerfile.splitlines():
                ctx.log.build(f"  {line}")
        else:
            dockerfile_text = read_text(ctx.context, plan.dockerfile) or ""
        if read_text(ctx.context, ".dockerignore") is None:
            dockerignore = dockerfiles.default_dockerignore()
    except UnsafePath as exc:
        raise PipelineFailure(f"{exc}. Commit the file itself instead.") from None
    ctx.dockerfile_text = dockerfile_text
    tag = image_tag(ctx, source, dockerfile_text)
    ctx.move(Deployment.Status.BUILDING)
    with ctx.phase("build"):
        if ctx.runtime.image_exists(tag):
            ctx.log.info(f"Image {tag} is up to date: nothing changed, build skipped")
        else:
            dockerfile_text, fetched = _fetch_remote_adds(ctx, source, dockerfile_text)
            ctx.log.info(f"Building image {tag}")
            ctx.runtime.build_image(
                context_dir=ctx.context,
                dockerfile=plan.dockerfile,
                tag=tag,
                labels=ctx.labels(),
                buildargs=source.environment.build_args or None,
                on_output=ctx.log.build,
                timeout=settings.BUTLER_BUILD_TIMEOUT,
                cancel=ctx.cancel,
                dockerfile_text=dockerfile_text,
                dockerignore_text=dockerignore,
                network=build_network(),
                extra_files=fetched,
            )
            ctx.built_image = tag
            ctx.save(image_built=True)
            ctx.log.flush()
    ctx.save(image_tag=tag)
    return Runnable(
        image_tag=tag,
        image_id=ctx.runtime.image_id(tag),
        container_port=plan.container_port
        or next(iter(ctx.runtime.image_exposed_ports(tag)), None),
        environment=source.environment,
        strategy=plan.strategy,
        generated_dockerfile=plan.generated_dockerfile or "",
    )


def _fetch_remote_adds(ctx: DeployContext, source: Source, text: str):
    """The Docker daemon never downloads for a build: Butler fetches `ADD <url>` itself."""
    limit = settings.BUTLER_BUILD_FETCH_MAX_MB * 1024 * 1024

    def logged(url: str, size: int) -> None:
        ctx.log.info(f"Downloaded {gitsources.sanitize(url)} for ADD ({size // 1024} KB)")

    try:
        return localize_remote_adds(
            text,
            build_args=source.environment.build_args,
            fetch=lambda url: fetch(url, max_bytes=limit, cancel=ctx.cancel),
            on_fetch=logged,
        )
    except RemoteAddRefused as exc:
        raise PipelineFailure(str(exc)) from None

"""The environment a new release gets: the project's variables (decrypted through
`envvars.services.envvars_for_deploy`, the one way values reach containers), the backend's URL
for a multi-repo frontend, and the build args a generated build bakes in.

What it returns becomes the release's encrypted snapshot, which a rollback runs with again.
"""

from __future__ import annotations

import logging
from pathlib import Path

from deployments.pipeline.logs import DeploymentLog
from deployments.releases import ReleaseEnv
from envvars.detection import detect_in_directory
from envvars.services import envvars_for_deploy
from projects.models import Project

logger = logging.getLogger(__name__)

FRONTEND_API_VARS = ("BACKEND_URL", "NEXT_PUBLIC_API_URL", "VITE_API_URL", "REACT_APP_API_URL")


def resolve_environment(
    *, project: Project, log: DeploymentLog, public_build_names: list[str]
) -> ReleaseEnv:
    """The release's environment.

    Build args are the variables the project marks build-time, plus the public names a
    frontend build bakes in (`VITE_*`, `NEXT_PUBLIC_*`, …) that have a value. Values are
    masked in every log line from here on.
    """
    deploy_env = envvars_for_deploy(project=project)
    env = dict(deploy_env.runtime)
    for key in deploy_env.unreadable:
        log.warning(
            f"Warning: {key} could not be decrypted with the configured keys and is not set. "
            "Set it again, or add the key it was encrypted with to BUTLER_ENCRYPTION_KEYS."
        )
    env.update(_backend_urls(project, env, log))
    build_args = dict(deploy_env.build_args)
    build_args.update({name: env[name] for name in public_build_names if name in env})
    release_env = ReleaseEnv(env=env, build_args=build_args)
    log.secrets = release_env.secrets
    names = ", ".join(sorted(env)) or "none"
    log.info(f"Environment variables: {names}")
    if build_args:
        log.info(f"Build arguments: {', '.join(sorted(build_args))}")
    return release_env


def warn_unset(*, src: Path, env: dict[str, str], log: DeploymentLog) -> tuple[list[str], set[str]]:
    """Variables the code reads that the project does not set: a warning, never a failure.

    Returns the warnings, and every name the code reads (to explain a crash at start-up).
    """
    try:
        found = detect_in_directory(src, time_budget=5.0)
    except Exception:  # detection is advice; it never fails a deploy
        logger.warning("env var detection failed in %s", src, exc_info=True)
        return [], set()
    reads = set(found.variables)
    missing = sorted(name for name in reads if name not in env)
    if not missing:
        return [], reads
    warning = f"Warning: the code reads {', '.join(missing)} but they are not set for this project."
    log.warning(warning + " The deploy goes on; set them under Environment Variables.")
    return [warning], reads


def _backend_urls(project: Project, env: dict[str, str], log: DeploymentLog) -> dict[str, str]:
    """A multi-repo frontend gets its backend's URL under the names frameworks read."""
    if project.component_type != Project.Component.FRONTEND:
        return {}
    backend = Project.objects.filter(
        parent_id=project.parent_id, component_type=Project.Component.BACKEND
    ).first()
    if backend is None or not backend.deployed_url:
        log.warning("Warning: the backend has no URL yet, so BACKEND_URL is not set.")
        return {}
    log.info(f"Backend URL for the frontend: {backend.deployed_url}")
    return {name: backend.deployed_url for name in FRONTEND_API_VARS if name not in env}

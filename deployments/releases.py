"""Releases: recording what a build produced, reusing one whose inputs are unchanged, reading
a release's env snapshot back for a rollback, and collecting the images of old releases.

The snapshot holds secrets: it is encrypted with the env var keys (`core.crypto`) and only
decrypted to start a container. Equality of snapshots is a keyed hash, never a comparison of
plain values in the database.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.crypto import salted_hmac

from core import crypto
from deployments.models import Deployment, Release
from deployments.runtime.base import RuntimeFailure, secret_values
from projects.models import Project

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReleaseEnv:
    """A container's environment and its image's build args. `repr` shows names only."""

    env: dict[str, str] = field(repr=False)
    build_args: dict[str, str] = field(repr=False)

    def __repr__(self) -> str:
        return f"ReleaseEnv(env={sorted(self.env)}, build_args={sorted(self.build_args)})"

    @property
    def secrets(self) -> list[str]:
        return secret_values({**self.env, **self.build_args})


class SnapshotUnreadable(Exception):
    """The release's env snapshot cannot be decrypted with the configured keys."""


def env_digest(release_env: ReleaseEnv) -> str:
    payload = json.dumps(
        {"env": release_env.env, "build_args": release_env.build_args}, sort_keys=True
    )
    return salted_hmac("butler.release.env", payload, algorithm="sha256").hexdigest()


def release_env(release: Release) -> ReleaseEnv:
    """The variables `release` ran with (decrypted now, to start its container)."""
    if not release.env_encrypted:
        return ReleaseEnv(env={}, build_args={})
    try:
        data = json.loads(crypto.decrypt(release.env_encrypted))
    except (crypto.DecryptionError, ValueError):
        raise SnapshotUnreadable(
            f"The environment variables of release v{release.number} cannot be decrypted "
            "with the configured keys (BUTLER_ENCRYPTION_KEYS). Deploy again instead."
        ) from None
    return ReleaseEnv(env=dict(data.get("env", {})), build_args=dict(data.get("build_args", {})))


def release_record(
    *,
    project: Project,
    deployment: Deployment,
    image_tag: str,
    image_id: str,
    strategy: str,
    container_port: int | None,
    environment: ReleaseEnv,
    generated_dockerfile: str = "",
    compose_project: str = "",
) -> tuple[Release, bool]:
    """The release for these inputs: an existing one with the same image, port and variables
    (reused: `created` False), or a new one numbered after the project's last."""
    digest = env_digest(environment)
    existing = (
        Release.objects.filter(
            project=project,
            image_tag=image_tag,
            env_digest=digest,
            container_port=container_port,
            compose_project=compose_project,
        )
        .order_by("-number")
        .first()
    )
    if existing is not None and (not image_id or existing.image_id == image_id):
        return existing, False
    snapshot = crypto.encrypt(
        json.dumps({"env": environment.env, "build_args": environment.build_args})
    )
    for _attempt in range(3):
        try:
            with transaction.atomic():
                number = (project.releases.aggregate(n=Max("number"))["n"] or 0) + 1
                release = Release.objects.create(
                    project=project,
                    number=number,
                    commit_sha=deployment.commit_sha,
                    strategy=strategy,
                    image_tag=image_tag,
                    image_id=image_id,
                    container_port=container_port,
                    generated_dockerfile=generated_dockerfile,
                    compose_project=compose_project,
                    env_encrypted=snapshot,
                    env_digest=digest,
                    env_keys=sorted(environment.env),
                )
            return release, True
        except IntegrityError:  # another deployment of the project numbered one at once
            continue
    raise RuntimeError("could not number a new release")


def releases_images_collect(*, project_id: int, runtime) -> list[str]:
    """Remove the project's images except those of its newest `BUTLER_KEEP_RELEASES` releases
    and of whatever runs or is being deployed now. Returns the tags removed."""
    keep_releases = Release.objects.filter(project_id=project_id).order_by("-number")[
        : settings.BUTLER_KEEP_RELEASES
    ]
    keep = {r.image_tag for r in keep_releases}
    keep |= set(
        Deployment.objects.filter(
            project_id=project_id, status__in=[Deployment.Status.RUNNING, *Deployment.UNFINISHED]
        ).values_list("image_tag", flat=True)
    )
    keep.discard("")
    removed = []
    for image in runtime.list_images({"butler.project": str(project_id)}):
        if keep & set(image.tags) or image.labels.get("butler.compose.project"):
            continue
        try:
            if runtime.remove_image(image.id):
                removed.append(image.tags[0] if image.tags else image.id)
        except RuntimeFailure:
            logger.warning("could not remove old image %s", image.id, exc_info=True)
    return removed

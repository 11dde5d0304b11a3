"""What detection produces: the build plan, and the error when nothing fits."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import dockerfiles as df
from .repo import _Repo


@dataclass
class BuildPlan:
    """How Butler builds and starts a repository; shown in the deployment log and API."""

    strategy: str  # compose dockerfile nextjs node-static node django flask fastapi procfile python static
    summary: str
    dockerfile: str | None  # repo-relative Dockerfile to build (the repo's own or generated)
    generated_dockerfile: str | None  # content of the generated one, None for the repo's own
    container_port: int | None
    compose_file: str | None = None
    base_images: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Public env names a generated build bakes in (VITE_*, NEXT_PUBLIC_*, ...): the pipeline
    # passes the project's values for these as --build-arg.
    build_args: list[str] = field(default_factory=list)


class DetectionError(Exception):
    """Nothing buildable was found; the message says what was looked for and what to add."""


def _generated(
    strategy: str, summary: str, dockerfile: str, port: int, repo: _Repo, build_args: list[str]
) -> BuildPlan:
    images = df.analyze_dockerfile(dockerfile).base_images
    if build_args:
        repo.notes.append(f"Build-time variables: {', '.join(build_args)} (passed as build args)")
    return BuildPlan(
        strategy=strategy,
        summary=summary,
        dockerfile=df.GENERATED_DOCKERFILE,
        generated_dockerfile=dockerfile,
        container_port=port,
        base_images=images,
        notes=repo.notes,
        build_args=build_args,
    )

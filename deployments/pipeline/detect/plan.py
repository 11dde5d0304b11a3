"""What detection produces: the build plan, and the error when nothing fits."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import dockerfiles as df
from .repo import Repo

# Strategy families a user can force (`detect_project(strategy=...)`), and the strategies
# detection reports for each.
FAMILIES = {
    "compose": ("compose",),
    "dockerfile": ("dockerfile",),
    "node": ("nextjs", "nuxt", "sveltekit", "remix", "astro", "node-static", "node"),
    "python": ("django", "flask", "fastapi", "procfile", "python", "streamlit", "gradio"),
    "static": ("static",),
}


def family_of(strategy: str) -> str:
    return next((f for f, members in FAMILIES.items() if strategy in members), strategy)


@dataclass
class BuildPlan:
    """How Butler builds and starts a repository; shown in the deployment log and API."""

    strategy: (
        str  # compose dockerfile nextjs nuxt sveltekit remix astro node-static node django ...
    )
    summary: str
    dockerfile: str | None  # Dockerfile to build, relative to `context_dir`
    generated_dockerfile: str | None  # content of a generated (or rewritten) one, else None
    container_port: int | None
    compose_file: str | None = None
    base_images: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Public env names a generated build bakes in (VITE_*, NEXT_PUBLIC_*, ...): the pipeline
    # passes the project's values for these as --build-arg.
    build_args: list[str] = field(default_factory=list)
    # The folder of the repository that is built (the Docker build context), relative to the
    # clone: "" for the repository root, "frontend" for a `root_dir` of "frontend". Every
    # other path in the plan is relative to it.
    context_dir: str = ""
    # Other strategy families that would also fit this folder, best first (e.g. "dockerfile"
    # beside a refused compose file): what a failure can suggest forcing.
    alternatives: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """Notes the user should act on (a version no image serves, a computed setting)."""
        return [n for n in self.notes if n.startswith("Warning:")]


class DetectionError(Exception):
    """Nothing buildable was found; the message says what was looked for and what to add."""


def generated_plan(
    strategy: str, summary: str, dockerfile: str, port: int, repo: Repo, build_args: list[str]
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

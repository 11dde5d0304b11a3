"""Plans that need no language detection: a compose file, the repo's own Dockerfile, a
static site."""

from __future__ import annotations

import re

from .. import dockerfiles as df
from ..compose_check import find_compose_file as _find_compose_file
from ..compose_check import inspect_compose
from ..ports import expose_ports, pick_app_port
from .plan import BuildPlan, generated_plan
from .repo import Repo


def detect_compose(repo: Repo) -> BuildPlan | None:
    name = _find_compose_file(repo.root)
    if not name:
        return None
    info = inspect_compose(repo.root, name)
    if info is None:
        return BuildPlan(
            "compose",
            f"{name} (not readable yet: it is checked before it runs)",
            None,
            None,
            None,
            compose_file=name,
            notes=repo.notes,
        )
    images = list(info.images)
    for rel in info.build_dockerfiles:
        images += [
            i for i in df.analyze_dockerfile(repo.read(rel) or "").base_images if i not in images
        ]
    summary = f"{name}: {len(info.services)} service(s) ({', '.join(info.services)}), main service '{info.main_service}'"
    if info.main_port:
        summary += f" on port {info.main_port}"
    return BuildPlan(
        strategy="compose",
        summary=summary,
        dockerfile=None,
        generated_dockerfile=None,
        container_port=info.main_port,
        compose_file=name,
        base_images=images,
        notes=repo.notes,
    )


def detect_dockerfile(repo: Repo) -> BuildPlan | None:
    name = repo.first("Dockerfile", "dockerfile")
    if not name:
        return None
    text = repo.read(name) or ""
    info = df.analyze_dockerfile(text)
    ports = expose_ports(text)
    port = pick_app_port(ports)
    if len(ports) > 1:
        repo.notes.append(f"The Dockerfile exposes {', '.join(map(str, ports))}: using {port}")
    if not ports:
        if re.search(r"^\s*EXPOSE\s+.*\$", text, re.M | re.I):
            repo.notes.append(
                "EXPOSE uses a variable with no default: the port is found at run time"
            )
        else:
            repo.notes.append(
                "The Dockerfile has no EXPOSE: the port is found from PORT and the app's logs"
            )
    rewritten = None
    cache_mounts = [line for line, what in info.buildkit_only if what == "RUN --mount=cache"]
    if cache_mounts:
        rewritten = df.without_cache_mounts(text)
        repo.notes.append(
            f"{name}: RUN --mount=type=cache (line {', '.join(map(str, cache_mounts))}) dropped: "
            "Butler builds with Docker's classic builder, which has no cache mounts; the image "
            "is the same, the build does not reuse package caches"
        )
    for line, what in info.buildkit_only:
        if what != "RUN --mount=cache":
            repo.notes.append(
                f"Warning: {name} line {line} uses {what}, which needs BuildKit; Butler builds "
                "with Docker's classic builder, so that step will fail. Rewrite it without "
                f"{what.split()[-1]}."
            )
    summary = f"Dockerfile (FROM {info.base_images[-1] if info.base_images else 'scratch'}"
    summary += f", EXPOSE {port})" if port else ")"
    return BuildPlan(
        strategy="dockerfile",
        summary=summary,
        dockerfile=df.GENERATED_DOCKERFILE if rewritten else name,
        generated_dockerfile=rewritten,
        container_port=port,
        base_images=info.images,
        notes=repo.notes,
    )


STATIC_DIRS = (".", "public", "dist", "build", "site", "_site", "www", "html", "docs")


def detect_static(repo: Repo) -> BuildPlan | None:
    folder = next((d for d in STATIC_DIRS if repo.is_file(f"{d}/index.html")), None)
    if folder is None:
        return None
    where = "index.html" if folder == "." else f"{folder}/index.html"
    site = df.StaticSite(description=f"Static site ({where}) served by nginx", source_dir=folder)
    return generated_plan(
        "static", site.description, df.static_dockerfile(site), df.NGINX_PORT, repo, []
    )

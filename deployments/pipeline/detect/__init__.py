"""Work out how to build a cloned repository: the build plan.

Order: a docker-compose file, the repo's own Dockerfile, Node (Next.js, Nuxt, SvelteKit,
Remix, Astro, a static build, any app with a start script), Python (Django, Flask, FastAPI,
a declared start command, generic), a static site. A start command the repo declares
(Procfile `web:`, `railway.json`/`railway.toml`, `render.yaml`) always decides how Python and
Node apps start. Versions come from the repo (`.python-version`, `runtime.txt`,
`requires-python`, `python_requires`, `engines.node`, `.nvmrc`, `.node-version`); one no
image serves gets the nearest that does, with a warning. Config files are parsed as what
they are (JSON, TOML, YAML, JS/TS as code); nothing from the repo is ever run here.

The user can steer: `strategy` forces a family (compose, dockerfile, node, python, static),
`root_dir` builds a folder of the repository (see `rootdir.py`).

Layout: `repo.py` reads files without leaving the repo; `declared.py` the platform files;
`jsconfig.py` JS/TS configs; `versions.py` versions; `commands.py` start commands and
ports; `node*.py`, `python*.py`, `system_packages.py` and `others.py` (compose, Dockerfile,
static) each try one kind of app and return a `BuildPlan` (`plan.py`) or None.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gitsources.rootdir import RootDirError, resolve_root_dir, validate_root_dir

from ..compose_check import ComposeRejected, check_compose
from .node import detect_node
from .others import detect_compose, detect_dockerfile, detect_static
from .plan import FAMILIES, BuildPlan, DetectionError, family_of
from .python import detect_python
from .repo import Repo

__all__ = [
    "FAMILIES",
    "STRATEGIES",
    "BuildPlan",
    "DetectionError",
    "RootDirError",
    "deployable_subfolders",
    "detect_project",
    "family_of",
    "resolve_root_dir",
    "validate_root_dir",
]

STRATEGIES = ("auto", *FAMILIES)
UNSUPPORTED = {
    "go.mod": "Go",
    "Gemfile": "Ruby",
    "Cargo.toml": "Rust",
    "pom.xml": "Java (Maven)",
    "build.gradle": "Java (Gradle)",
    "build.gradle.kts": "Kotlin (Gradle)",
    "composer.json": "PHP",
    "mix.exs": "Elixir",
    "deno.json": "Deno",
}
LOOKED_FOR = (
    "a compose file (docker-compose.yml, docker-compose.yaml, compose.yml, compose.yaml); "
    "a Dockerfile; "
    "package.json (Next.js, Nuxt, SvelteKit, Remix, Astro, a Vite/Create React App/Gatsby "
    "static build, Express or any app with a start script); Python (manage.py, "
    "requirements.txt, pyproject.toml, uv.lock, Pipfile, setup.py, a Procfile 'web:' line, "
    "or main.py/app.py/server.py); index.html (a static site)"
)
FAMILY_LABELS = {
    "compose": "a compose file",
    "dockerfile": "a Dockerfile",
    "node": "a Node app",
    "python": "a Python app",
    "static": "a static site",
}

Step = Callable[[Repo], BuildPlan | None]


def _steps(forced: bool) -> dict[str, Step]:
    return {
        "compose": detect_compose,
        "dockerfile": detect_dockerfile,
        "node": lambda repo: detect_node(repo, forced=forced),
        "python": lambda repo: detect_python(repo, forced=forced),
        "static": detect_static,
    }


def _fits(repo: Repo, family: str) -> BuildPlan | None:
    try:
        return _steps(forced=False)[family](repo.another_reader())
    except (DetectionError, ComposeRejected):
        return None


def _alternatives(repo: Repo, chosen: str) -> list[str]:
    return [f for f in FAMILIES if f != chosen and _fits(repo, f) is not None]


def _refuse_compose_with_alternatives(repo: Repo, plan: BuildPlan) -> None:
    """Check the compose file now, so a refusal can say what else would build."""
    try:
        check_compose(repo.root, plan.compose_file or "", labels={}, network="")
    except ComposeRejected as exc:
        alternatives = _alternatives(repo, "compose")
        if not alternatives:
            raise
        best = alternatives[0]
        suggestion = (
            f" The repository also has {FAMILY_LABELS[best]} that Butler can build instead: "
            f"set the project's strategy to '{best}'."
        )
        raise ComposeRejected(
            f"{str(exc).rstrip('.')}.{suggestion}", service=exc.service, key=exc.key
        ) from None


def deployable_subfolders(repo_dir: Path, *, limit: int = 12) -> list[tuple[str, str]]:
    """(folder, what Butler would build there) for the folders, one or two levels down,
    that look deployable on their own: what to suggest as `root_dir`."""
    root = Repo(Path(repo_dir))
    candidates: list[str] = []
    for rel in root.walk():
        parts = rel.split("/")
        if len(parts) in (2, 3) and parts[-1] in _MARKERS:
            folder = "/".join(parts[:-1])
            if folder not in candidates:
                candidates.append(folder)
    found: list[tuple[str, str]] = []
    for folder in sorted(candidates, key=lambda f: (f.count("/"), f)):
        if any(folder.startswith(f + "/") for f, _ in found):
            continue
        sub = Repo(root.root / folder)
        for family, step in _steps(forced=False).items():
            try:
                plan = step(sub)
            except (DetectionError, ComposeRejected):
                plan = None
            if plan is not None:
                label = plan.summary.split(",")[0] if family != "compose" else "compose file"
                found.append((folder, label))
                break
        if len(found) >= limit:
            break
    return found


_MARKERS = frozenset(
    {
        "Dockerfile",
        "docker-compose.yml",
        "compose.yml",
        "compose.yaml",
        "docker-compose.yaml",
        "package.json",
        "requirements.txt",
        "pyproject.toml",
        "Pipfile",
        "manage.py",
        "index.html",
        "Procfile",
    }
)


def _undetectable(repo: Repo, *, top: bool) -> DetectionError:
    found = [f"{name} ({lang})" for name, lang in UNSUPPORTED.items() if repo.is_file(name)]
    if any(f.endswith(".csproj") for f in repo.walk()):
        found.append("*.csproj (.NET)")
    parts = ["Could not work out how to build this repository."]
    if not repo.walk():
        parts.append("The repository has no files.")
    if found:
        parts.append(
            f"Found {', '.join(found)}: Butler builds that only from a Dockerfile, so add one."
        )
    parts += repo.hints
    subfolders = deployable_subfolders(repo.root) if top else []
    if subfolders:
        listed = "; ".join(f"{folder}/ ({what})" for folder, what in subfolders)
        parts.append(
            f"Nothing is deployable at the top, but these folders are: {listed}. Set the "
            "project's root_dir to the folder to build (for a frontend and a backend, deploy "
            "each as its own component with its root_dir)."
        )
    parts.append(f"Looked for: {LOOKED_FOR}. Add a Dockerfile, or one of these.")
    return DetectionError(" ".join(parts))


def detect_project(repo_dir: Path, *, strategy: str = "auto", root_dir: str = "") -> BuildPlan:
    """Decide how to build the repository checked out at `repo_dir`.

    `strategy` ("auto" or a family of `FAMILIES`) forces a family; `root_dir` (validated with
    `validate_root_dir`, checked against symlinks with `resolve_root_dir`) builds that folder
    of the repository: the plan's paths are relative to it and `plan.context_dir` names it.
    Raises DetectionError (naming everything looked for, and deployable subfolders) when
    nothing fits, ComposeRejected when the compose file cannot run (naming what else would),
    DetectionError too for a `root_dir` that cannot be used.
    """
    if strategy not in STRATEGIES:
        raise DetectionError(
            f"Unknown strategy '{strategy}': choose one of {', '.join(STRATEGIES)}."
        )
    try:
        folder = validate_root_dir(root_dir)
        base = resolve_root_dir(Path(repo_dir), folder)
    except RootDirError as exc:
        raise DetectionError(str(exc)) from None
    repo = Repo(base)
    if strategy != "auto":
        plan = _steps(forced=True)[strategy](repo)
        if plan is None:
            raise _not_that_family(repo, strategy, folder)
        if strategy == "compose":
            check_compose(repo.root, plan.compose_file or "", labels={}, network="")
    else:
        plan = None
        for family, step in _steps(forced=False).items():
            plan = step(repo)
            if plan is not None:
                if family == "compose":
                    _refuse_compose_with_alternatives(repo, plan)
                break
        if plan is None:
            raise _undetectable(repo, top=not folder)
    plan.context_dir = folder
    if folder:
        plan.notes.insert(0, f"Building the folder {folder}/ of the repository (root_dir)")
    plan.alternatives = _alternatives(repo, family_of(plan.strategy))
    return plan


def _not_that_family(repo: Repo, strategy: str, folder: str) -> DetectionError:
    where = f"the folder {folder}/" if folder else "the repository"
    wanted = {
        "compose": "no compose file (docker-compose.yml, compose.yaml, ...)",
        "dockerfile": "no Dockerfile",
        "node": "no package.json with a start or build script",
        "python": "no Python app (manage.py, requirements.txt, pyproject.toml, Pipfile, "
        "a Procfile 'web:' line, or main.py/app.py)",
        "static": "no index.html (at the top or in public/, dist/, build/, site/, docs/)",
    }[strategy]
    parts = [f"The strategy is set to '{strategy}', but {where} has {wanted}."]
    parts += repo.hints
    others = _alternatives(repo, strategy)
    if others:
        parts.append(
            f"It would build as {', '.join(others)}: set the strategy to one of those, or 'auto'."
        )
    return DetectionError(" ".join(parts))

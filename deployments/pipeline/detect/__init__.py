"""Work out how to build a cloned repository: the build plan.

Order: a docker-compose file, the repo's own Dockerfile, Node (Next.js, a static SPA build,
any app with a start script), Python (Django, Flask, FastAPI, a Procfile `web:` line, generic),
a static site. A Procfile `web:` line always decides the start command of Python and Node
apps. Versions come from the repo (`.python-version`, `runtime.txt`, `requires-python`,
`engines.node`, `.nvmrc`, `.node-version`), defaults from settings. Generation lives in
`dockerfiles.py`; this package only reads the repo and never runs anything from it.

Layout: `repo.py` reads files without leaving the repo, `versions.py` resolves versions,
`commands.py` holds Procfile/port helpers, `node.py`, `python.py` and `others.py` (compose,
Dockerfile, static) each try one kind of app and return a `BuildPlan` (`plan.py`) or None.
"""

from __future__ import annotations

from pathlib import Path

from .node import _detect_node
from .others import _detect_compose, _detect_dockerfile, _detect_static
from .plan import BuildPlan, DetectionError
from .python import _detect_python
from .repo import _Repo

__all__ = ["BuildPlan", "DetectionError", "detect_project"]

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
    "package.json (Next.js, a Vite/Create React App static build, Express or any app with a "
    "start script); Python (manage.py, requirements.txt, pyproject.toml, Pipfile, setup.py, "
    "a Procfile 'web:' line, or main.py/app.py/server.py); index.html (a static site)"
)


def _undetectable(repo: _Repo) -> DetectionError:
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
    parts.append(f"Looked for: {LOOKED_FOR}. Add a Dockerfile, or one of these.")
    return DetectionError(" ".join(parts))


def detect_project(repo_dir: Path) -> BuildPlan:
    """Decide how to build the repository checked out at `repo_dir`.

    Raises DetectionError (naming everything looked for) when nothing fits.
    """
    repo = _Repo(Path(repo_dir))
    for step in (_detect_compose, _detect_dockerfile, _detect_node, _detect_python, _detect_static):
        plan = step(repo)
        if plan is not None:
            return plan
    raise _undetectable(repo)

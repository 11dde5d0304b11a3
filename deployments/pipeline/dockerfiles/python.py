"""Generated Dockerfiles for Python apps.

Dependencies always go into a virtualenv at /opt/venv, never into the image's own Python:
a mirror's Debian-packaged Python refuses pip (PEP 668) or cannot upgrade the packages the OS
installed. Two shapes. Plain pip installs (requirements.txt, `[project] dependencies`,
setup.py) with no C libraries to compile against stay one stage. Everything else builds in a
first stage whose /opt/venv the final stage copies: a dependency manager (uv, Poetry, Pipenv,
in a venv of its own) stays in the build stage, and so do compilers and `-dev` packages. The
final stage gets only the shared libraries the compiled modules link to, found with `ldd` and
`dpkg -S` in the build stage rather than from a table of Debian package names, which change
between Debian releases.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from .common import (
    APP_USER,
    PYTHON_PORT,
    cmd,
    python_image,
    quote_all,
    shell_echo,
    user_line,
)

VENV = "/opt/venv"
TOOLS = "/opt/butler-tools"  # the dependency managers' own venv, build stage only
RUNTIME_PACKAGES_FILE = f"{VENV}/.butler-runtime-packages"


@dataclass
class PythonApp:
    """What a generated Python Dockerfile needs to know."""

    version: str  # "3.11"
    command: str  # shell command; may use $PORT
    description: str  # first comment line of the file
    requirement_files: list[str] = field(default_factory=list)  # copied, then `pip install -r`
    packages: list[str] = field(default_factory=list)  # pip-installed before the source
    pipenv: str | None = None  # "deploy" (Pipfile.lock) | "skip-lock"
    poetry: bool = False  # `poetry install --no-root` from pyproject + poetry.lock
    uv: bool = False  # `uv sync` from pyproject.toml (+ uv.lock)
    uv_locked: bool = False  # uv.lock exists: `--frozen`
    install_project: bool = False  # `pip install .` after the source is copied
    copy_source_first: bool = False  # requirements reference local paths (`-e .`)
    servers: list[str] = field(default_factory=list)  # gunicorn / uvicorn when not required
    collectstatic_dir: str | None = None  # Django: where manage.py lives ("." for the root)
    # Debian packages to compile against (build stage only) and libraries loaded at run time
    # without being linked (psycopg 3 finds libpq with ctypes).
    build_packages: list[str] = field(default_factory=list)
    runtime_packages: list[str] = field(default_factory=list)
    # Packages installed only if pip finds no wheel and must compile (lxml, Pillow, ...).
    fallback_packages: list[str] = field(default_factory=list)

    @property
    def two_stage(self) -> bool:
        return bool(self.uv or self.poetry or self.pipenv or self.build_packages)


_PY_ENV = (
    "ENV PYTHONDONTWRITEBYTECODE=1 \\\n"
    "    PYTHONUNBUFFERED=1 \\\n"
    "    PIP_NO_CACHE_DIR=1 \\\n"
    "    PIP_DISABLE_PIP_VERSION_CHECK=1 \\\n"
    "    PIP_ROOT_USER_ACTION=ignore"
)
_VENV_ENV = f'ENV VIRTUAL_ENV={VENV} PATH="{VENV}/bin:$PATH"'


def _apt(packages: list[str]) -> str:
    return (
        "apt-get update && apt-get install -y --no-install-recommends "
        f"{quote_all(sorted(set(packages)))} && rm -rf /var/lib/apt/lists/*"
    )


def _apt_line(packages: list[str], why: str) -> str:
    return (
        f"# {why}\n"
        f"RUN command -v apt-get >/dev/null || ({shell_echo('Butler: installing ' + ' '.join(packages) + ' needs a Debian-based Python image (apt-get); BUTLER_PYTHON_IMAGE names one without it')}; exit 1) \\\n"
        f"    && {_apt(packages)}"
    )


def _pip(app: PythonApp, args: str) -> str:
    """`pip install <args>`, retried after installing compilers and C libraries when pip
    found no wheel for a package that usually has one."""
    line = f"pip install {args}"
    if not app.fallback_packages:
        return f"RUN {line}"
    names = " ".join(sorted(set(app.fallback_packages)))
    note = shell_echo(
        "Butler: pip could not install from wheels alone; installing compilers and C "
        f"libraries ({names}) and trying again"
    )
    return f"RUN {line} \\\n    || ({note} && {_apt(app.fallback_packages)} && {line})"


def _requirements(app: PythonApp) -> list[str]:
    lines: list[str] = []
    if not app.requirement_files:
        return lines
    # Files included with -r/-c keep their relative paths, so the includes still resolve.
    at_root = [f for f in app.requirement_files if "/" not in f]
    if at_root:
        lines.append(f"COPY {' '.join(at_root)} ./")
    lines += [f"COPY {f} {f}" for f in app.requirement_files if "/" in f]
    lines.append(_pip(app, f"-r {shlex.quote(app.requirement_files[0])}"))
    return lines


def _tools(app: PythonApp) -> list[str]:
    """Dependency managers, in a venv of their own so they never mix with the app's."""
    tools = [
        t for t, used in (("uv", app.uv), ("poetry", app.poetry), ("pipenv", app.pipenv)) if used
    ]
    if not tools:
        return []
    return [f"RUN python -m venv {TOOLS} && {TOOLS}/bin/pip install {' '.join(tools)}"]


def _manager_installs(app: PythonApp) -> tuple[list[str], list[str]]:
    """(lines before the source is copied, lines after) that install the dependencies."""
    before: list[str] = []
    after: list[str] = []
    if app.uv:
        frozen = " --frozen" if app.uv_locked else ""
        before += [
            f"ENV UV_PROJECT_ENVIRONMENT={VENV} UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1"
            " UV_LINK_MODE=copy",
            "COPY pyproject.toml uv.lock* ./",
            f"RUN {TOOLS}/bin/uv sync{frozen} --no-dev --no-install-project",
        ]
        # The project itself (when it is a package) once its source is there.
        after.append(f"RUN {TOOLS}/bin/uv sync{frozen} --no-dev --no-editable")
    if app.poetry:
        # Poetry installs into the active virtualenv (VIRTUAL_ENV), not its own.
        before += [
            "COPY pyproject.toml poetry.lock* ./",
            f"RUN POETRY_VIRTUALENVS_CREATE=false {TOOLS}/bin/poetry install --no-root"
            " --no-interaction --only main",
        ]
    if app.pipenv == "deploy":
        before += [
            "COPY Pipfile Pipfile.lock ./",
            f"RUN {TOOLS}/bin/pipenv requirements > /tmp/requirements-pipenv.txt"
            " && pip install -r /tmp/requirements-pipenv.txt",
        ]
    elif app.pipenv == "skip-lock":
        before += [
            "COPY Pipfile ./",
            f"RUN {TOOLS}/bin/pipenv install --system --skip-lock",
        ]
    return before, after


def _dependency_lines(app: PythonApp) -> tuple[list[str], list[str]]:
    before, after = _manager_installs(app)
    before = [*_requirements(app), *before]
    if app.packages:
        before.append(_pip(app, quote_all(app.packages)))
    if app.servers:
        before.append(f"RUN pip install {quote_all(app.servers)}")
    if app.install_project:
        after.append("RUN pip install --no-deps .")
    return before, after


def _collectstatic(app: PythonApp) -> list[str]:
    if not app.collectstatic_dir:
        return []
    cd = "" if app.collectstatic_dir == "." else f"cd {shlex.quote(app.collectstatic_dir)} && "
    return [
        "# Placeholder keys exist only for this step, so settings that require one can load.\n"
        f"RUN {cd}SECRET_KEY=butler-build-only DJANGO_SECRET_KEY=butler-build-only"
        " python manage.py collectstatic --noinput"
        ' || echo "Butler: collectstatic failed at build time (the settings may need'
        ' environment variables); static files were not collected" >&2'
    ]


def _tail(app: PythonApp) -> list[str]:
    return [
        f"USER {APP_USER}",
        f"ENV PORT={PYTHON_PORT}",
        f"EXPOSE {PYTHON_PORT}",
        cmd(app.command),
    ]


def python_dockerfile(app: PythonApp) -> str:
    if app.two_stage:
        return _two_stage(app)
    image = python_image(app.version)
    lines = [f"# Generated by Butler: {app.description}", f"FROM {image}", _PY_ENV, "WORKDIR /app"]
    if app.runtime_packages:
        lines.append(_apt_line(app.runtime_packages, "Libraries the app loads at run time"))
    lines += [user_line(), f"RUN python -m venv {VENV}", _VENV_ENV]
    before, after = _dependency_lines(app)
    source = f"COPY --chown={APP_USER}:{APP_USER} . ."
    if app.copy_source_first:
        lines += [source, *before]
    else:
        lines += [*before, source]
    lines += after
    lines += _collectstatic(app)
    lines += _tail(app)
    return "\n".join(lines) + "\n"


def _runtime_libraries_line() -> str:
    """List the Debian packages owning the shared libraries the venv's compiled modules
    link to, for the final stage to install."""
    return (
        "# The shared libraries compiled modules link to, and the Debian packages that own them.\n"
        f"RUN find {VENV} -type f -name '*.so*' -exec ldd {{}} + 2>/dev/null"
        " | awk '$3 ~ /^\\// {print $3}' | sort -u"
        ' | while read -r lib; do dpkg -S "$lib" 2>/dev/null'
        ' || dpkg -S "$(readlink -f "$lib")" 2>/dev/null || true; done'
        f" | cut -d: -f1 | tr ',' '\\n' | tr -d ' ' | sort -u > {RUNTIME_PACKAGES_FILE}"
    )


def _two_stage(app: PythonApp) -> str:
    image = python_image(app.version)
    own = f"--chown={APP_USER}:{APP_USER}"
    lines = [
        f"# Generated by Butler: {app.description}",
        f"FROM {image} AS build",
        _PY_ENV,
        "WORKDIR /app",
    ]
    if app.build_packages:
        lines.append(_apt_line(app.build_packages, "Compilers and headers, for this stage only"))
    lines += _tools(app)
    if not app.uv:  # uv makes the environment itself
        lines.append(f"RUN python -m venv {VENV}")
    lines.append(_VENV_ENV)
    before, after = _dependency_lines(app)
    if app.copy_source_first:
        lines += ["COPY . .", *before]
    else:
        lines += [*before, "COPY . ."]
    lines += after
    if app.build_packages:
        lines.append(_runtime_libraries_line())
    lines += ["", f"FROM {image}", _PY_ENV, "WORKDIR /app", f"COPY --from=build {VENV} {VENV}"]
    if app.build_packages or app.runtime_packages:
        extra = " ".join(sorted(set(app.runtime_packages)))
        listed = f"$(cat {RUNTIME_PACKAGES_FILE} 2>/dev/null)"
        lines.append(
            "# The shared libraries the compiled modules need at run time.\n"
            f'RUN packages="{listed} {extra}"; if [ -n "$(echo $packages)" ]; then'
            " apt-get update && apt-get install -y --no-install-recommends $packages"
            " && rm -rf /var/lib/apt/lists/*; fi"
        )
    lines += [_VENV_ENV, user_line(), f"COPY {own} . ."]
    lines += _collectstatic(app)
    lines += _tail(app)
    return "\n".join(lines) + "\n"

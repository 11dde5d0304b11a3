"""Dockerfiles: reading the repo's own, and writing one when the repo has none.

Detection (`detect/`) decides *what* an app is and fills one of the specs below; this module
decides *how* it is built. Generated files follow the same rules everywhere: official `-slim`
bases named by settings (so a private mirror can serve them), dependencies installed before
the source is copied (an unchanged lock file keeps its layer), a non-root user, `ENV PORT` +
`EXPOSE` with the default port, and a start command that honours `$PORT`.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

from django.conf import settings

GENERATED_DOCKERFILE = "Dockerfile.butler"
PYTHON_PORT = 8000
NODE_PORT = 3000
NGINX_PORT = 80
APP_USER = "app"
APP_UID = 10001

# ---------------------------------------------------------------------------------------------
# Reading Dockerfiles


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, ARG, ENV, EXPOSE, ...
    value: str  # the rest of the logical line, continuations joined
    line: int  # 1-based line where the instruction starts


_DIRECTIVE = re.compile(r"^#\s*(\w+)\s*=\s*(\S+)\s*$")


def parse_dockerfile(text: str) -> list[Instruction]:
    """Logical instructions of a Dockerfile (comments dropped, `\\` continuations joined)."""
    lines = text.splitlines()
    escape = "\\"
    for raw in lines:  # parser directives only count before anything else
        match = _DIRECTIVE.match(raw.strip())
        if not match:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("\\", "`"):
            escape = match.group(2)
    out: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # also inside a continuation, as Docker does
        if not parts:
            start = number
        body = raw.rstrip()
        if body.endswith(escape):
            parts.append(body[: -len(escape)])
            continue
        parts.append(body)
        keyword, _, value = " ".join(p.strip() for p in parts).partition(" ")
        out.append(Instruction(keyword.upper(), value.strip(), start))
        parts = []
    if parts:
        keyword, _, value = " ".join(p.strip() for p in parts).partition(" ")
        out.append(Instruction(keyword.upper(), value.strip(), start))
    return out


_VAR = re.compile(r"\\\$|\$(?:\{(\w+)(?::?([-+])([^}]*))?\}|(\w+))")


def substitute(value: str, env: dict[str, str]) -> str:
    """Docker's `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}`; unknown names are empty."""

    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "\\$":
            return "$"
        current = env.get(match.group(1) or match.group(4), "")
        if match.group(2) == "-":
            return current or match.group(3)
        if match.group(2) == "+":
            return match.group(3) if current else ""
        return current

    return _VAR.sub(repl, value)


def _assignments(value: str) -> list[tuple[str, str | None]]:
    """`K=V K2="a b"` pairs (ARG, ENV, LABEL style); a bare `K` has no value."""
    try:
        words = shlex.split(value, posix=True)
    except ValueError:
        words = value.split()
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        name, sep, val = word.partition("=")
        pairs.append((name, val if sep else None))
    return pairs


@dataclass
class DockerfileInfo:
    base_images: list[str] = field(default_factory=list)
    exposed: list[str] = field(default_factory=list)  # final stage, after substitution
    stages: list[str] = field(default_factory=list)  # stage names ("" when unnamed)


def analyze_dockerfile(text: str) -> DockerfileInfo:
    """Base images and the final stage's EXPOSE values, with ARG/ENV defaults resolved."""
    info = DockerfileInfo()
    global_args: dict[str, str] = {}
    stage_env: list[dict[str, str]] = []
    stage_expose: list[list[str]] = []
    env: dict[str, str] | None = None  # None until the first FROM
    for inst in parse_dockerfile(text):
        if inst.keyword == "FROM":
            words = [w for w in inst.value.split() if not w.startswith("--")]
            if not words:
                continue
            image = substitute(words[0], global_args)
            name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else ""
            parent = next((i for i, s in enumerate(info.stages) if s and s == image.lower()), None)
            if parent is not None:
                env = dict(stage_env[parent])
                stage_expose.append(list(stage_expose[parent]))
            else:
                env = {}
                stage_expose.append([])
                if image.lower() != "scratch" and image not in info.base_images:
                    info.base_images.append(image)
            info.stages.append(name)
            stage_env.append(env)
        elif inst.keyword == "ARG":
            for name, val in _assignments(inst.value):
                if env is None:
                    global_args[name] = substitute(val or "", global_args)
                elif val is not None:
                    env.setdefault(name, substitute(val, env))
                elif name in global_args:
                    env.setdefault(name, global_args[name])
        elif inst.keyword == "ENV" and env is not None:
            pairs = _assignments(inst.value)
            if pairs and pairs[0][1] is None and len(pairs) > 1:  # legacy `ENV KEY value words`
                key, _, rest = inst.value.partition(" ")
                env[key] = substitute(rest.strip().strip("\"'"), env)
            else:
                before = dict(env)  # one ENV line substitutes from the values before it
                for name, val in pairs:
                    env[name] = substitute(val or "", before)
        elif inst.keyword == "EXPOSE" and env is not None:
            stage_expose[-1].extend(
                word for word in substitute(inst.value, env).split() if word.strip()
            )
    if stage_expose:
        info.exposed = stage_expose[-1]
    return info


# ---------------------------------------------------------------------------------------------
# Writing Dockerfiles


def python_image(version: str) -> str:
    return settings.BUTLER_PYTHON_IMAGE.format(version=version)


def node_image(version: str) -> str:
    return settings.BUTLER_NODE_IMAGE.format(version=version)


def nginx_image() -> str:
    return settings.BUTLER_NGINX_IMAGE


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
    install_project: bool = False  # `pip install .` after the source is copied
    copy_source_first: bool = False  # requirements reference local paths (`-e .`)
    servers: list[str] = field(default_factory=list)  # gunicorn / uvicorn when not required
    collectstatic_dir: str | None = None  # Django: where manage.py lives ("." for the root)


@dataclass
class NodeApp:
    """What a generated Node Dockerfile needs to know."""

    kind: str  # "nextjs" | "spa" | "node"
    version: str  # "20"
    description: str
    manager: str = "npm"  # npm | yarn | pnpm
    lock_file: str | None = None
    manager_version: str | None = None  # pnpm / yarn berry version to install
    install_files: list[str] = field(default_factory=lambda: ["package.json"])
    copy_source_first: bool = False  # workspaces / lifecycle scripts need the whole repo
    build: bool = False  # run the `build` script
    build_args: list[str] = field(default_factory=list)  # public env names baked in at build
    command: str | None = None  # node: start command (Procfile or `npm start`)
    prune: bool = False  # node: drop devDependencies from the runtime image
    output_dirs: list[str] = field(default_factory=lambda: ["dist", "build", "out"])  # spa
    next_standalone: bool = False
    has_public_dir: bool = False


@dataclass
class StaticSite:
    description: str
    source_dir: str = "."  # directory of index.html


_PY_ENV = (
    "ENV PYTHONDONTWRITEBYTECODE=1 \\\n"
    "    PYTHONUNBUFFERED=1 \\\n"
    "    PIP_NO_CACHE_DIR=1 \\\n"
    "    PIP_DISABLE_PIP_VERSION_CHECK=1 \\\n"
    "    PIP_ROOT_USER_ACTION=ignore"
)


def _user_line() -> str:
    """Create the app user (`useradd` on Debian-based images, busybox `adduser` if a mirror
    serves Alpine ones) and give it /app, so the app can write there (SQLite, caches)."""
    return (
        f"RUN (id -u {APP_USER} >/dev/null 2>&1 || useradd --create-home --uid {APP_UID}"
        f" {APP_USER} 2>/dev/null || adduser -D -u {APP_UID} {APP_USER})"
        f" && chown {APP_USER}:{APP_USER} /app"
    )


def _cmd(command: str) -> str:
    """Exec-form CMD running `command` through sh (for $PORT), exec'd when it is simple."""
    simple = not re.search(r"[;&|`]|\$\(|\n", command)
    return "CMD " + json.dumps(["sh", "-c", f"exec {command}" if simple else command])


def _quote_all(items: list[str]) -> str:
    # A value with a line break would end the RUN instruction: such a value is not a package.
    return " ".join(shlex.quote(i) for i in items if "\n" not in i and "\r" not in i)


def python_dockerfile(app: PythonApp) -> str:
    image = python_image(app.version)
    lines = [f"# Generated by Butler: {app.description}", f"FROM {image}", _PY_ENV, "WORKDIR /app"]
    lines.append(_user_line())
    install: list[str] = []
    if app.requirement_files:
        # Files included with -r/-c keep their relative paths, so the includes still resolve.
        at_root = [f for f in app.requirement_files if "/" not in f]
        install.append(f"COPY {' '.join(at_root)} ./")
        install += [f"COPY {f} {f}" for f in app.requirement_files if "/" in f]
        install.append(f"RUN pip install -r {app.requirement_files[0]}")
    if app.pipenv:
        files = "Pipfile Pipfile.lock" if app.pipenv == "deploy" else "Pipfile"
        flag = "--deploy" if app.pipenv == "deploy" else "--skip-lock"
        install.append(f"COPY {files} ./")
        install.append(f"RUN pip install pipenv && pipenv install --system {flag}")
    if app.poetry:
        install.append("COPY pyproject.toml poetry.lock* ./")
        install.append(
            "RUN pip install poetry && POETRY_VIRTUALENVS_CREATE=false"
            " poetry install --no-root --no-interaction --only main"
        )
    if app.packages:
        install.append(f"RUN pip install {_quote_all(app.packages)}")
    if app.servers:
        install.append(f"RUN pip install {_quote_all(app.servers)}")
    source = f"COPY --chown={APP_USER}:{APP_USER} . ."
    if app.copy_source_first:
        lines += [source, *install]
    else:
        lines += [*install, source]
    if app.install_project:
        lines.append("RUN pip install --no-deps .")
    if app.collectstatic_dir:
        cd = "" if app.collectstatic_dir == "." else f"cd {shlex.quote(app.collectstatic_dir)} && "
        lines.append(
            "# Placeholder keys exist only for this step, so settings that require one can load.\n"
            f"RUN {cd}SECRET_KEY=butler-build-only DJANGO_SECRET_KEY=butler-build-only"
            " python manage.py collectstatic --noinput"
            ' || echo "Butler: collectstatic failed at build time (the settings may need'
            ' environment variables); static files were not collected" >&2'
        )
    lines += [
        f"USER {APP_USER}",
        f"ENV PORT={PYTHON_PORT}",
        f"EXPOSE {PYTHON_PORT}",
        _cmd(app.command),
    ]
    return "\n".join(lines) + "\n"


def _node_setup(app: NodeApp) -> list[str]:
    if app.manager == "pnpm":
        return [f"RUN npm install -g pnpm@{app.manager_version or 'latest'}"]
    if app.manager == "yarn" and app.manager_version:  # Yarn Berry: the images ship 1.x
        return [
            "RUN corepack enable 2>/dev/null || (npm install -g corepack && corepack enable)",
            f"RUN corepack prepare yarn@{app.manager_version} --activate",
        ]
    return []


def _node_install(app: NodeApp, *, production: bool = False) -> str:
    berry = app.manager == "yarn" and bool(app.manager_version)
    if app.manager == "pnpm":
        frozen = " --frozen-lockfile" if app.lock_file else ""
        return f"pnpm install{frozen}" + (" --prod" if production else "")
    if app.manager == "yarn":
        if berry:
            return "yarn install --immutable"
        frozen = " --frozen-lockfile" if app.lock_file else ""
        return f"yarn install{frozen}" + (" --production" if production else "")
    base = "npm ci" if app.lock_file else "npm install"
    return base + (" --omit=dev" if production else "")


def _node_run(app: NodeApp, script: str) -> str:
    return {"pnpm": "pnpm run", "yarn": "yarn run"}.get(app.manager, "npm run") + f" {script}"


def _node_prune(app: NodeApp) -> str | None:
    if app.manager == "pnpm":
        return "pnpm prune --prod"
    if app.manager == "npm":
        return "npm prune --omit=dev"
    if not app.manager_version and app.lock_file:  # yarn 1 reinstalls from its cache
        return "yarn install --production --frozen-lockfile --ignore-scripts --prefer-offline"
    return None


def _node_deps(app: NodeApp, *, production: bool = False) -> list[str]:
    """Install lines; the whole source is copied first only when the install needs it."""
    lines = _node_setup(app)
    if app.copy_source_first:
        return [*lines, "COPY . .", f"RUN {_node_install(app, production=production)}"]
    return [
        *lines,
        f"COPY {' '.join(app.install_files)} ./",
        f"RUN {_node_install(app, production=production)}",
    ]


def _build_args(app: NodeApp) -> list[str]:
    # ARGs are visible to RUN as env vars and unset when not passed, so a value from a
    # committed .env.production is not overridden by an empty one; nothing persists in the image.
    return [f"ARG {name}" for name in app.build_args]


def _nginx_conf(spa: bool) -> str:
    fallback = "/index.html" if spa else "$uri.html =404"
    conf = [
        "server {",
        f"    listen {NGINX_PORT};",
        "    server_name _;",
        "    root /usr/share/nginx/html;",
        "    index index.html;",
        f"    location / {{ try_files $uri $uri/ {fallback}; }}",
        "    location ~ /\\.(?!well-known) { deny all; }",
        "}",
    ]
    quoted = " ".join(shlex.quote(line) for line in conf)
    return f"RUN printf '%s\\n' {quoted} > /etc/nginx/conf.d/default.conf"


def _nginx_tail() -> list[str]:
    start = (
        f'sed -i "s/listen [0-9]*;/listen ${{PORT:-{NGINX_PORT}}};/"'
        " /etc/nginx/conf.d/default.conf && exec nginx -g 'daemon off;'"
    )
    return [
        f"ENV PORT={NGINX_PORT}",
        f"EXPOSE {NGINX_PORT}",
        "CMD " + json.dumps(["sh", "-c", start]),
    ]


def node_dockerfile(app: NodeApp) -> str:
    if app.kind == "nextjs":
        return _nextjs_dockerfile(app)
    if app.kind == "spa":
        return _spa_dockerfile(app)
    return _node_server_dockerfile(app)


def _nextjs_dockerfile(app: NodeApp) -> str:
    image = node_image(app.version)
    lines = [
        f"# Generated by Butler: {app.description}",
        f"FROM {image} AS deps",
        "WORKDIR /app",
        *_node_deps(app),
        "",
        f"FROM {image} AS build",
        "WORKDIR /app",
        "ENV NEXT_TELEMETRY_DISABLED=1",
        *_node_setup(app),
        "COPY --from=deps /app/node_modules ./node_modules",
        "COPY . .",
        *_build_args(app),
        f"RUN {_node_run(app, 'build') if app.build else 'node_modules/.bin/next build'}",
        "",
        f"FROM {image} AS runner",
        "WORKDIR /app",
        "ENV NODE_ENV=production NEXT_TELEMETRY_DISABLED=1",
        _user_line(),
    ]
    own = f"--chown={APP_USER}:{APP_USER}"
    if app.command:  # a Procfile decides the start command: keep the whole app
        lines.append(f"COPY --from=build {own} /app ./")
        command = app.command
    elif app.next_standalone:
        lines += [
            f"COPY --from=build {own} /app/.next/standalone ./",
            f"COPY --from=build {own} /app/.next/static ./.next/static",
        ]
        if app.has_public_dir:
            lines.append(f"COPY --from=build {own} /app/public ./public")
        lines.append("ENV HOSTNAME=0.0.0.0")
        command = "node server.js"
    else:
        lines.append(f"COPY --from=build {own} /app ./")
        command = f"node_modules/.bin/next start -H 0.0.0.0 -p ${{PORT:-{NODE_PORT}}}"
    lines += [f"USER {APP_USER}", f"ENV PORT={NODE_PORT}", f"EXPOSE {NODE_PORT}", _cmd(command)]
    return "\n".join(lines) + "\n"


def _spa_dockerfile(app: NodeApp) -> str:
    dirs = " ".join(shlex.quote(d) for d in app.output_dirs)
    names = ", ".join(f"{d}/" for d in app.output_dirs)
    collect = (
        f'RUN mkdir -p /out && for d in {dirs}; do if [ -f "$d/index.html" ]; then'
        ' cp -a "$d/." /out/ && exit 0; fi; done;'
        f' echo "Butler: the build produced no index.html in {names}" >&2; exit 1'
    )
    lines = [
        f"# Generated by Butler: {app.description}",
        f"FROM {node_image(app.version)} AS build",
        "WORKDIR /app",
        *_node_deps(app),
        "COPY . ." if not app.copy_source_first else "",
        *_build_args(app),
        f"RUN {_node_run(app, 'build')}",
        collect,
        "",
        f"FROM {nginx_image()}",
        _nginx_conf(spa=True),
        "COPY --from=build /out /usr/share/nginx/html",
        *_nginx_tail(),
    ]
    return "\n".join(_squeeze(lines)) + "\n"


def _node_server_dockerfile(app: NodeApp) -> str:
    image = node_image(app.version)
    command = app.command or "npm start"
    if app.build:
        prune = _node_prune(app) if app.prune else None
        lines = [
            f"# Generated by Butler: {app.description}",
            f"FROM {image} AS build",
            "WORKDIR /app",
            *_node_deps(app),
            "COPY . ." if not app.copy_source_first else "",
            *_build_args(app),
            f"RUN {_node_run(app, 'build')}",
            f"RUN {prune}" if prune else "",
            "",
            f"FROM {image}",
            "WORKDIR /app",
            _user_line(),
            f"COPY --from=build --chown={APP_USER}:{APP_USER} /app ./",
        ]
    else:
        lines = [
            f"# Generated by Butler: {app.description}",
            f"FROM {image}",
            "WORKDIR /app",
            _user_line(),
            *_node_deps(app, production=app.prune),
        ]
        if not app.copy_source_first:
            lines.append(f"COPY --chown={APP_USER}:{APP_USER} . .")
    lines += [
        "ENV NODE_ENV=production",
        f"USER {APP_USER}",
        f"ENV PORT={NODE_PORT}",
        f"EXPOSE {NODE_PORT}",
        _cmd(command),
    ]
    return "\n".join(_squeeze(lines)) + "\n"


def _squeeze(lines: list[str]) -> list[str]:
    """Drop the empty strings that stand for skipped steps, keep single blank separators."""
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    return out


def static_dockerfile(site: StaticSite) -> str:
    source = "." if site.source_dir in ("", ".") else site.source_dir.rstrip("/") + "/"
    lines = [
        f"# Generated by Butler: {site.description}",
        f"FROM {nginx_image()}",
        _nginx_conf(spa=False),
        f"COPY {source} /usr/share/nginx/html/",
        f"RUN rm -f /usr/share/nginx/html/{GENERATED_DOCKERFILE}",
        *_nginx_tail(),
    ]
    return "\n".join(lines) + "\n"


def default_dockerignore() -> str:
    """What the build context leaves out when the repo has no `.dockerignore` of its own."""
    return (
        "# Written by Butler because the repository has none.\n"
        ".git\n"
        ".hg\n"
        ".svn\n"
        "**/node_modules\n"
        "**/__pycache__\n"
        "**/*.py[cod]\n"
        ".venv\n"
        "venv\n"
        ".tox\n"
        ".nox\n"
        ".pytest_cache\n"
        ".mypy_cache\n"
        ".ruff_cache\n"
        ".coverage\n"
        "htmlcov\n"
        ".next/cache\n"
        ".turbo\n"
        ".parcel-cache\n"
        ".cache\n"
        ".idea\n"
        ".vscode\n"
        ".DS_Store\n"
        "npm-debug.log*\n"
        "yarn-debug.log*\n"
        "yarn-error.log*\n"
        "docker-compose.butler.yml\n"
    )

"""Work out how to build a cloned repository: the build plan.

Order: a docker-compose file, the repo's own Dockerfile, Node (Next.js, a static SPA build,
any app with a start script), Python (Django, Flask, FastAPI, a Procfile `web:` line, generic),
a static site. A Procfile `web:` line always decides the start command of Python and Node
apps. Versions come from the repo (`.python-version`, `runtime.txt`, `requires-python`,
`engines.node`, `.nvmrc`, `.node-version`), defaults from settings. Generation lives in
`dockerfiles.py`; this module only reads the repo and never runs anything from it.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from . import dockerfiles as df
from .compose_check import find_compose_file as _find_compose_file
from .compose_check import inspect_compose
from .ports import expose_ports, pick_app_port

MAX_READ = 1_000_000
MAX_SCAN_FILES = 3000
# fmt: off
SKIP_DIRS = frozenset({
    "node_modules", "__pycache__", "venv", "env", "site-packages", "dist", "build", "out",
    "coverage", "htmlcov", "migrations", "tests", "test", "docs", "static", "staticfiles",
    "vendor", "bower_components", "target",
})
PY_MARKERS = (
    "manage.py", "requirements.txt", "pyproject.toml", "Pipfile", "setup.py", "setup.cfg",
    "runtime.txt", ".python-version",
)
APP_FILES = (
    "app.py", "wsgi.py", "main.py", "application.py", "server.py", "run.py", "asgi.py", "api.py",
    "__init__.py",
)
# fmt: on
PY_ENTRIES = ("main.py", "app.py", "server.py", "run.py", "application.py", "wsgi.py", "bot.py")
APP_FILE_RANK = {name: rank for rank, name in enumerate(APP_FILES)}
FACTORY_NAMES = ("create_app", "make_app", "create_application", "get_app", "app_factory")
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


# ---------------------------------------------------------------------------------------------
# Reading the repo safely (symlinks must not lead outside it)


class _Repo:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        budget = float(getattr(settings, "BUTLER_DETECT_TIME_BUDGET", 20.0))
        self.deadline = time.monotonic() + budget
        self.notes: list[str] = []
        self.hints: list[str] = []
        self._walk_cache: list[str] | None = None
        self.toml_cache: dict[str, dict | None] = {}

    def _resolve(self, rel: str) -> Path | None:
        try:
            path = (self.root / rel).resolve()
        except (OSError, RuntimeError):
            return None
        return path if path.is_relative_to(self.root) else None

    def is_file(self, rel: str) -> bool:
        path = self._resolve(rel)
        return path is not None and path.is_file()

    def is_dir(self, rel: str) -> bool:
        path = self._resolve(rel)
        return path is not None and path.is_dir()

    def read(self, rel: str, limit: int = MAX_READ) -> str | None:
        path = self._resolve(rel)
        if path is None or not path.is_file():
            return None
        try:
            with path.open("rb") as fh:
                return fh.read(limit).decode("utf-8", errors="replace")
        except OSError:
            return None

    def first(self, *names: str) -> str | None:
        return next((n for n in names if self.is_file(n)), None)

    def walk(self) -> list[str]:
        """Repo-relative files up to 3 directories deep, shallow first, within the time budget."""
        if self._walk_cache is not None:
            return self._walk_cache
        found: list[str] = []
        queue: list[tuple[Path, int]] = [(self.root, 0)]
        while queue and len(found) < MAX_SCAN_FILES:
            if time.monotonic() > self.deadline:
                self.notes.append("Detection time budget reached: some files were not scanned")
                break
            folder, depth = queue.pop(0)
            try:
                entries = sorted(folder.iterdir(), key=lambda p: p.name)
            except OSError:
                continue
            for entry in entries:
                if entry.is_symlink():
                    continue
                if entry.is_dir():
                    if depth < 3 and entry.name not in SKIP_DIRS and not entry.name.startswith("."):
                        queue.append((entry, depth + 1))
                elif entry.is_file():
                    found.append(entry.relative_to(self.root).as_posix())
        self._walk_cache = found
        return found


def _procfile(repo: _Repo) -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in (repo.read("Procfile") or "").splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+)\s*:\s*(.+)$", line.strip())
        if match and not line.lstrip().startswith("#"):
            entries.setdefault(match.group(1), match.group(2).strip())
    return entries


def _procfile_command(repo: _Repo, procs: dict[str, str]) -> str | None:
    web = procs.get("web")
    if not web:
        return None
    repo.notes.append(f"Procfile web: {web} (respected)")
    if "PORT" not in web and not web.startswith("gunicorn"):
        repo.notes.append("The Procfile web command does not mention $PORT: it must bind 0.0.0.0")
    release = procs.get("release")
    if release:
        repo.notes.append(f"Procfile release: {release} (runs before each start)")
        return f"{release} && exec {web}"
    return web


def _command_port(command: str | None) -> int | None:
    """A fixed port in a start command (`--bind 0.0.0.0:5000`, `-p 4000`), not `$PORT`."""
    if not command:
        return None
    match = re.search(r"(?:--bind|-b|--listen)[= ]\S*?:(\d{2,5})\b", command) or re.search(
        r"(?:--port|-p)[= ](\d{2,5})\b", command
    )
    return int(match.group(1)) if match else None


def _hardcoded_port(source: str | None) -> int | None:
    """A port literal in an app that never reads PORT from its environment."""
    reads_port = r"(?:environ|getenv|process\.env)(?:\.get)?\s*[\[(.]?\s*['\"]?PORT\b"
    if not source or re.search(reads_port, source):
        return None
    match = (
        re.search(r"\.listen\(\s*(\d{2,5})\b", source)
        or re.search(r"\(\s*['\"][\w.:]*['\"]\s*,\s*(\d{2,5})\s*\)", source)
        or re.search(r"\bport\s*=\s*(\d{2,5})\b", source)
    )
    return int(match.group(1)) if match else None


# ---------------------------------------------------------------------------------------------
# Versions


def _vparts(text: str) -> tuple[int, ...] | None:
    match = re.match(r"^\s*v?(\d+(?:\.\d+)*)", text)
    return tuple(int(x) for x in match.group(1).split(".")) if match else None


def _pad(v: tuple[int, ...]) -> tuple[int, int, int]:
    padded = (*v, 0, 0, 0)
    return (padded[0], padded[1], padded[2])


Comparator = tuple[str, tuple[int, ...]]


def _test(version: tuple[int, int, int], comp: Comparator) -> bool:
    op, ref = comp
    if op == "=*":  # prefix match: ==3.11.* or a bare "18"
        return version[: len(ref)] == ref
    if op == "!*":
        return version[: len(ref)] != ref
    target = _pad(ref)
    return {
        ">=": version >= target,
        ">": version > target,
        "<=": version <= target,
        "<": version < target,
        "==": version == target,
        "!=": version != target,
    }[op]


def _satisfiable(prefix: tuple[int, ...], groups: list[list[Comparator]]) -> bool:
    """Does any version starting with `prefix` satisfy one of the AND-groups?"""
    numbers = {0, 999}
    for group in groups:
        for _, ref in group:
            for n in ref:
                numbers |= {n, n + 1, max(n - 1, 0)}
    free = 3 - len(prefix)
    candidates = [prefix]
    for _ in range(free):
        candidates = [(*c, n) for c in candidates for n in numbers]
    return any(all(_test(_pad(c), comp) for comp in group) for group in groups for c in candidates)


_PEP440 = re.compile(r"(~=|===|==|!=|<=|>=|<|>|\^|~|=)?\s*(\d+(?:\.\d+)*)(\.\*)?")


def _pep440_groups(spec: str) -> list[list[Comparator]] | None:
    """Simple PEP 440 specifiers (and Poetry's ^, ~, ||) as AND-groups; None if not simple."""
    groups = []
    for alternative in spec.split("||"):
        if _PEP440.sub("", alternative).replace(",", "").strip():
            return None  # pre-releases, markers, anything not simple
        group: list[Comparator] = []
        for op, number, star in _PEP440.findall(alternative):
            op, ref = op or "==", tuple(int(x) for x in number.split("."))
            if star:
                group.append(("!*" if op == "!=" else "=*", ref))
            elif op == "^":
                group += [(">=", ref), ("=*", ref[:1])]
            elif op == "~":
                group += [(">=", ref), ("=*", ref[:2] if len(ref) > 1 else ref)]
            elif op == "~=":
                group += [(">=", ref), ("=*", ref[:-1] if len(ref) > 1 else ref)]
            elif op in ("=", "==="):
                group.append(("==", ref))
            else:
                group.append((op, ref))
        if not group:
            return None
        groups.append(group)
    return groups


def _semver_groups(spec: str) -> list[list[Comparator]] | None:
    groups = []
    for alternative in spec.split("||"):
        text = alternative.strip().replace(",", " ")
        hyphen = re.match(r"^(\S+)\s+-\s+(\S+)$", text)
        if hyphen:
            text = f">={hyphen.group(1)} <={hyphen.group(2)}"
        group: list[Comparator] = []
        for token in re.findall(r"(?:[<>]=?|=|\^|~>?)?\s*[v\dxX*][\w.*]*", text):
            match = re.match(r"^([<>]=?|=|\^|~>?)?\s*v?(.*)$", token.strip())
            if not match:
                return None
            op = match.group(1) or ""
            nums = []
            for part in match.group(2).split("."):
                if not part.isdigit():
                    break
                nums.append(int(part))
            ref = tuple(nums)
            if not ref:  # "*", "x"
                continue
            if op in ("", "="):
                group.append(("==", ref) if len(ref) == 3 else ("=*", ref))
            elif op == "^":
                group += [(">=", ref), ("=*", ref[:1])]
            elif op in ("~", "~>"):
                group += [(">=", ref), ("=*", ref[:2] if len(ref) > 1 else ref)]
            elif op == ">" and len(ref) < 3:  # >18 means >=19
                group.append((">=", (*ref[:-1], ref[-1] + 1)))
            elif op == "<=" and len(ref) < 3:  # <=20 means <21
                group.append(("<", (*ref[:-1], ref[-1] + 1)))
            else:
                group.append((op, ref))
        if not group and text not in ("", "*", "x", "X", "latest"):
            return None
        groups.append(group)
    return groups


def _choose(
    default: str,
    known: list[str],
    prefix: Callable[[str], tuple[int, ...]],
    groups: list[list[Comparator]] | None,
    prefer: Callable[[str], bool] = lambda v: True,
) -> str | None:
    """The default when it satisfies the range, else the fitting version closest to it."""
    if groups is None:
        return None
    if _satisfiable(prefix(default), groups):
        return default
    fitting = [v for v in known if _satisfiable(prefix(v), groups)]
    if not fitting:
        return None

    def distance(v: str) -> tuple[bool, int, tuple[int, ...]]:
        a, b = prefix(v), prefix(default)
        gap = abs((a[0] - b[0]) * 100 + (a[-1] - b[-1] if len(a) > 1 else 0))
        return (not prefer(v), gap, tuple(-x for x in a))

    return min(fitting, key=distance)


def _python_version(repo: _Repo) -> str:
    default = str(settings.BUTLER_DEFAULT_PYTHON_VERSION)
    known = [f"3.{m}" for m in range(8, 15)]

    def exact(text: str, source: str) -> str | None:
        parts = _vparts(text)
        if parts and len(parts) >= 2 and parts[0] == 3:
            version = f"{parts[0]}.{parts[1]}"
            repo.notes.append(f"Python {version} from {source}")
            return version
        repo.notes.append(f"{source}: '{text.strip()}' is not a CPython version; using {default}")
        return None

    text = repo.read(".python-version")
    if text and text.strip():
        line = next(
            (ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")), ""
        )
        if line:
            return exact(line, ".python-version") or default
    text = repo.read("runtime.txt")
    if text and text.strip():
        return exact(text.strip().removeprefix("python-"), "runtime.txt") or default
    spec, source = None, ""
    pipfile = _toml(repo, "Pipfile")
    requires = pipfile.get("requires", {}) if pipfile else {}
    if isinstance(requires, dict) and requires.get("python_version"):
        return exact(str(requires["python_version"]), "Pipfile") or default
    pyproject = _toml(repo, "pyproject.toml") or {}
    project = pyproject.get("project") if isinstance(pyproject.get("project"), dict) else {}
    poetry_deps = pyproject.get("tool", {}).get("poetry", {}).get("dependencies", {})
    if project.get("requires-python"):
        spec, source = str(project["requires-python"]), "requires-python"
    elif isinstance(poetry_deps, dict) and isinstance(poetry_deps.get("python"), str):
        spec, source = poetry_deps["python"], "tool.poetry python"
    if not spec:
        return default
    chosen = _choose(
        default, known, lambda v: tuple(int(x) for x in v.split(".")), _pep440_groups(spec)
    )
    if chosen is None:
        repo.notes.append(
            f"{source} '{spec}' is not a simple range Butler reads; using Python {default}"
        )
        return default
    repo.notes.append(f"Python {chosen} (satisfies {source} '{spec}')")
    return chosen


# fmt: off
NODE_CODENAMES = {
    "argon": "4", "boron": "6", "carbon": "8", "dubnium": "10", "erbium": "12", "fermium": "14",
    "gallium": "16", "hydrogen": "18", "iron": "20", "jod": "22", "krypton": "24",
}
# fmt: on


def _node_range(repo: _Repo, source: str, value: str, default: str) -> str | None:
    lowered = value.lower()
    if lowered.startswith("lts/") and lowered[4:] in NODE_CODENAMES:
        return NODE_CODENAMES[lowered[4:]]
    if lowered in ("node", "stable", "latest", "current", "lts/*", "lts", "*"):
        return default
    version = _choose(
        default,
        [str(m) for m in range(14, 41)],
        lambda v: (int(v),),
        _semver_groups(value),
        prefer=lambda v: int(v) % 2 == 0,  # LTS lines
    )
    if version is None:
        repo.notes.append(f"{source} '{value}' is not a range Butler reads; using Node {default}")
    return version


def _node_version(repo: _Repo, pkg: dict) -> str:
    """engines.node decides; a .nvmrc/.node-version pin that satisfies it is more precise."""
    default = str(settings.BUTLER_DEFAULT_NODE_VERSION)
    engines = pkg.get("engines") if isinstance(pkg.get("engines"), dict) else {}
    wanted = str(engines.get("node") or "").strip()
    pin_source, pin = "", ""
    for name in (".nvmrc", ".node-version"):
        lines = (repo.read(name, 4096) or "").splitlines()
        first = next((ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")), "")
        if first:
            pin_source, pin = name, first
            break
    pinned = _node_range(repo, pin_source, pin, default) if pin else None
    if wanted:
        groups = _semver_groups(wanted)
        if pinned and groups is not None and _satisfiable((int(pinned),), groups):
            repo.notes.append(
                f"Node {pinned} from {pin_source} (satisfies engines.node '{wanted}')"
            )
            return pinned
        chosen = _node_range(repo, "engines.node", wanted, default)
        if chosen:
            repo.notes.append(f"Node {chosen} from engines.node '{wanted}'")
            return chosen
    if pinned:
        repo.notes.append(f"Node {pinned} from {pin_source} '{pin}'")
        return pinned
    return default


# ---------------------------------------------------------------------------------------------
# Node


@dataclass
class _NodeManager:
    name: str
    lock: str | None
    version: str | None  # pnpm version / yarn berry version
    label: str


def _node_manager(repo: _Repo, pkg: dict) -> _NodeManager:
    locks = [
        (name, lock)
        for name, lock in (
            ("pnpm", "pnpm-lock.yaml"),
            ("yarn", "yarn.lock"),
            ("npm", "package-lock.json"),
            ("npm", "npm-shrinkwrap.json"),
        )
        if repo.is_file(lock)
    ]
    declared = str(pkg.get("packageManager") or "")
    match = re.match(r"^(npm|yarn|pnpm)@([\w.-]+)", declared)
    if match:
        name, declared_version = match.group(1), match.group(2)
        lock = next((lk for n, lk in locks if n == name), None)
    elif locks:
        (name, lock), declared_version = locks[0], None
        if len(locks) > 1:
            repo.notes.append(
                f"Several lock files ({', '.join(lk for _, lk in locks)}): using {lock}"
            )
    else:
        name, lock, declared_version = "npm", None, None
    version = None
    if name == "pnpm":
        version = declared_version or _pnpm_for_lock(repo.read("pnpm-lock.yaml", 4096) or "")
    elif name == "yarn":
        berry = "__metadata:" in (repo.read("yarn.lock", 4096) or "")
        major = _vparts(declared_version or "")
        if berry or (major and major[0] >= 2):
            version = declared_version or "stable"
            repo.notes.append("Yarn Berry: installed with corepack (the base images ship yarn 1)")
    if lock is None:
        repo.notes.append(
            f"No lock file: using {name} install (commit a lock file for reproducible builds)"
        )
    label = f"{name} ({lock})" if lock else f"{name} (no lock file)"
    return _NodeManager(name, lock, version, label)


def _pnpm_for_lock(head: str) -> str:
    match = re.search(r"lockfileVersion:\s*['\"]?(\d+)(?:\.(\d+))?", head)
    if not match:
        return "latest"
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    if major >= 9:
        return "9"
    if major >= 6:
        return "8"
    return "7" if (major, minor) >= (5, 4) else "6"


_PUBLIC_ENV = re.compile(r"\b((?:VITE|REACT_APP|NEXT_PUBLIC|VUE_APP|GATSBY)_[A-Z0-9_]+)\b")
_FRONTEND_EXTS = (
    ".js",
    ".jsx",
    ".ts",
    ".tsx",
    ".mjs",
    ".cjs",
    ".vue",
    ".svelte",
    ".html",
    ".astro",
)


def _public_env_names(repo: _Repo) -> list[str]:
    """Public, build-time env names the frontend code or its .env files mention."""
    names: list[str] = []
    files = [
        f for f in repo.walk() if f.endswith(_FRONTEND_EXTS) or f.split("/")[-1].startswith(".env")
    ]
    for rel in files:
        if time.monotonic() > repo.deadline:
            break
        for name in _PUBLIC_ENV.findall(repo.read(rel, 256_000) or ""):
            if name not in names:
                names.append(name)
    return sorted(names)


SPA_TOOLS = {
    "vite": ("Vite", "dist"),
    "react-scripts": ("Create React App", "build"),
    "@vue/cli-service": ("Vue CLI", "dist"),
    "parcel": ("Parcel", "dist"),
    "parcel-bundler": ("Parcel", "dist"),
    "gatsby": ("Gatsby", "public"),
    "@angular/cli": ("Angular", "dist"),
    "astro": ("Astro", "dist"),
}
# fmt: off
SERVER_DEPS = frozenset({
    "express", "fastify", "koa", "@hapi/hapi", "hapi", "@nestjs/core", "nuxt", "restify",
    "@remix-run/serve", "@remix-run/node", "@sveltejs/adapter-node", "@astrojs/node", "hono",
    "@hono/node-server", "polka", "json-server", "socket.io", "@feathersjs/feathers",
})
# fmt: on
_DEV_SERVER = re.compile(
    r"^(?:npx\s+)?(?:vite|react-scripts\s+start|vue-cli-service\s+serve|parcel|serve|http-server"
    r"|live-server|lite-server|sirv|webpack(?:-dev-server|\s+serve)|ng\s+serve"
    r"|gatsby\s+(?:develop|serve)|astro\s+(?:dev|preview))\b"
)
LIFECYCLE = ("preinstall", "install", "postinstall", "prepare")


def _first_tool(command: str) -> str:
    words = [w for w in command.split() if "=" not in w or w.startswith("-")]
    words = [w for w in words if w not in ("cross-env", "npx", "exec", "env")]
    return words[0] if words else ""


def _detect_node(repo: _Repo) -> BuildPlan | None:
    if not repo.is_file("package.json"):
        return None
    try:
        pkg = json.loads(repo.read("package.json") or "")
    except json.JSONDecodeError as exc:
        raise DetectionError(
            f"package.json is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from None
    if not isinstance(pkg, dict):
        raise DetectionError("package.json must be a JSON object")
    scripts = (
        {k: str(v) for k, v in (pkg.get("scripts") or {}).items()}
        if isinstance(pkg.get("scripts"), dict)
        else {}
    )
    dev = pkg.get("devDependencies") if isinstance(pkg.get("devDependencies"), dict) else {}
    deps = {**dev, **(pkg.get("dependencies") if isinstance(pkg.get("dependencies"), dict) else {})}
    procfile = _procfile(repo)
    start = scripts.get("start", "")
    spa_tool = next((t for t in SPA_TOOLS if t in deps), None)
    has_server = any(d in deps for d in SERVER_DEPS)
    main = str(pkg.get("main") or "")
    entry = next(
        (
            f
            for f in (main, "server.js", "index.js", "app.js", "main.js", "server.mjs", "index.mjs")
            if f and repo.is_file(f)
        ),
        None,
    )
    is_next = "next" in deps
    static_start = not start or bool(_DEV_SERVER.match(start))
    is_spa = (
        bool(scripts.get("build")) and not has_server and (spa_tool is not None or static_start)
    )
    runnable = is_next or is_spa or bool(start) or entry is not None or "web" in procfile
    if not runnable:
        repo.notes.append("package.json has no start or build script: not treated as a Node app")
        repo.hints.append(
            'package.json: add a "start" script (or a "build" script for a static site)'
        )
        return None
    if not (is_next or spa_tool or start) and any(repo.is_file(m) for m in PY_MARKERS):
        repo.notes.append(
            "package.json looks like tooling for a Python app: building the Python app"
        )
        return None

    manager = _node_manager(repo, pkg)
    version = _node_version(repo, pkg)
    command = _procfile_command(repo, procfile)
    install_files = ["package.json"] + ([manager.lock] if manager.lock else [])
    install_files += [f for f in (".npmrc", ".yarnrc", ".pnpmfile.cjs") if repo.is_file(f)]
    copy_first = []
    if pkg.get("workspaces") or repo.is_file("pnpm-workspace.yaml"):
        copy_first.append("workspaces")
    if manager.name == "yarn" and manager.version:
        copy_first.append("Yarn Berry")
    if any(s in scripts for s in LIFECYCLE):
        copy_first.append("install scripts")
    if repo.is_dir("patches"):
        copy_first.append("patches/")
    if copy_first:
        repo.notes.append(
            f"Dependencies are installed after copying the whole repo ({', '.join(copy_first)})"
        )
    app = df.NodeApp(
        kind="node",
        version=version,
        description="",
        manager=manager.name,
        lock_file=manager.lock,
        manager_version=manager.version,
        install_files=install_files,
        copy_source_first=bool(copy_first),
        build=bool(scripts.get("build")),
        command=command,
        has_public_dir=repo.is_dir("public"),
    )
    tail = f"{manager.label}, Node {version}"
    port = df.NODE_PORT
    next_output = _next_output(repo) if is_next else None
    if is_next and next_output != "export":
        app.kind, app.build_args = (
            "nextjs",
            [n for n in _public_env_names(repo) if n.startswith("NEXT_PUBLIC_")],
        )
        app.next_standalone = next_output == "standalone"
        if not app.next_standalone and not command:
            repo.notes.append("Tip: output: 'standalone' in next.config makes a much smaller image")
        app.description = f"Next.js app, {tail}"
        strategy = "nextjs"
        port = _command_port(command) or port
    elif (is_spa or next_output == "export") and not command:
        label, out_dir = (
            ("Next.js static export", "out")
            if is_next
            else SPA_TOOLS.get(spa_tool or "", ("Static", "dist"))
        )
        app.kind, app.build_args = "spa", _public_env_names(repo)
        app.output_dirs = _spa_output_dirs(repo, out_dir)
        if not is_next:
            label += " static build"
        app.description = f"{label} served by nginx, {tail}"
        strategy, port = "node-static", df.NGINX_PORT
    else:
        app.prune = _first_tool(command or start) not in dev
        app.build_args = _public_env_names(repo) if app.build else []
        how = "Procfile" if command else ("npm start" if start else f"node {entry}")
        if not command and not start and entry:
            app.command = f"node {shlex.quote(entry)}"
        app.description = f"Node app ({how}), {tail}"
        strategy = "node"
        source_file = entry or _script_file(start)
        port = (
            _command_port(command)
            or _hardcoded_port(repo.read(source_file or "", 256_000) if source_file else None)
            or port
        )
        if port != df.NODE_PORT:
            repo.notes.append(f"The app listens on {port} whatever PORT says")
    dockerfile = df.node_dockerfile(app)
    return _generated(strategy, app.description, dockerfile, port, repo, app.build_args)


def _script_file(script: str) -> str | None:
    match = re.search(r"\bnode\s+(?:--?\S+\s+)*([\w./-]+\.[cm]?js)\b", script)
    return match.group(1) if match else None


def _next_output(repo: _Repo) -> str | None:
    for name in ("next.config.js", "next.config.mjs", "next.config.ts", "next.config.cjs"):
        match = re.search(r"""output\s*:\s*['"](standalone|export)['"]""", repo.read(name) or "")
        if match:
            return match.group(1)
    return None


def _spa_output_dirs(repo: _Repo, tool_dir: str) -> list[str]:
    dirs = []
    for name in ("vite.config.js", "vite.config.ts", "vite.config.mjs", "vite.config.mts"):
        match = re.search(r"""outDir\s*:\s*['"]([\w./-]+)['"]""", repo.read(name) or "")
        if match:
            dirs.append(match.group(1).strip("./") or "dist")
    try:
        angular = json.loads(repo.read("angular.json") or "{}")
        for project in (angular.get("projects") or {}).values():
            out = project["architect"]["build"]["options"]["outputPath"]
            out = out.get("base") if isinstance(out, dict) else out
            dirs += [f"{out}/browser", str(out)]
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        pass
    for name in (tool_dir, "dist", "build", "out"):
        if name not in dirs:
            dirs.append(name)
    return dirs


# ---------------------------------------------------------------------------------------------
# Python


def _toml(repo: _Repo, rel: str) -> dict | None:
    if rel not in repo.toml_cache:
        text = repo.read(rel)
        data = None
        if text is not None:
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                repo.notes.append(f"{rel} is not valid TOML ({exc}); ignored")
        repo.toml_cache[rel] = data
    return repo.toml_cache[rel]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass
class _PyDeps:
    label: str
    names: set[str]
    fields: dict


def _requirements(repo: _Repo, rel: str, seen: list[str], names: set[str]) -> bool:
    """Collect names and included files of a requirements file; True if it needs the source."""
    if rel in seen or len(seen) > 20 or not repo.is_file(rel):
        return False
    seen.append(rel)
    base = rel.rpartition("/")[0]
    local = False
    for raw in (repo.read(rel) or "").splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        include = re.match(r"^(?:-r|-c|--requirement|--constraint)[=\s]+(\S+)", line)
        if include:
            target = f"{base}/{include.group(1)}" if base else include.group(1)
            local |= _requirements(repo, target, seen, names)
        elif line.startswith(("-e", "--editable", ".", "/", "file:")) or " @ file:" in line:
            local = True
        elif not line.startswith("-"):
            match = _REQ_NAME.match(line)
            if match:
                names.add(_norm(match.group(1)))
    return local


def _python_deps(repo: _Repo) -> _PyDeps:
    if repo.is_file("requirements.txt"):
        names: set[str] = set()
        files: list[str] = []
        local = _requirements(repo, "requirements.txt", files, names)
        if local:
            repo.notes.append(
                "requirements.txt installs local paths: installed after copying the source"
            )
        return _PyDeps(
            "pip (requirements.txt)",
            names,
            {"requirement_files": files, "copy_source_first": local},
        )
    if repo.is_file("Pipfile"):
        pipfile = _toml(repo, "Pipfile") or {}
        packages = pipfile.get("packages") if isinstance(pipfile.get("packages"), dict) else {}
        locked = repo.is_file("Pipfile.lock")
        if not locked:
            repo.notes.append(
                "Pipfile without Pipfile.lock: pipenv resolves versions at build time"
            )
        label = "pipenv (Pipfile.lock)" if locked else "pipenv (Pipfile)"
        return _PyDeps(
            label, {_norm(n) for n in packages}, {"pipenv": "deploy" if locked else "skip-lock"}
        )
    pyproject = _toml(repo, "pyproject.toml") if repo.is_file("pyproject.toml") else None
    if pyproject is not None:
        project = pyproject.get("project") if isinstance(pyproject.get("project"), dict) else {}
        poetry = pyproject.get("tool", {}).get("poetry", {})
        name = str(project.get("name") or poetry.get("name") or "")
        packaged = bool(
            project.get("scripts")
            or poetry.get("scripts")
            or repo.is_dir("src")
            or (name and repo.is_file(f"{name.replace('-', '_').lower()}/__init__.py"))
        )
        has_build = isinstance(pyproject.get("build-system"), dict)
        if (
            isinstance(poetry, dict)
            and poetry.get("dependencies")
            and not project.get("dependencies")
        ):
            deps = {_norm(n) for n in poetry["dependencies"] if n != "python"}
            fields = {"poetry": True}
            if packaged and poetry.get("package-mode", True) is not False:
                fields["install_project"] = True
            return _PyDeps("poetry (pyproject.toml)", deps, fields)
        packages = [str(d) for d in project.get("dependencies") or []]
        names = {_norm(m.group(1)) for d in packages if (m := _REQ_NAME.match(d))}
        fields = {"packages": packages}
        if has_build and packaged:
            fields["install_project"] = True
        elif has_build and not packages:
            fields.update(copy_source_first=True, install_project=True)
        return _PyDeps("pip (pyproject.toml)", names, fields)
    if repo.is_file("setup.py") or repo.is_file("setup.cfg"):
        text = (repo.read("setup.py") or "") + (repo.read("setup.cfg") or "")
        names = {n for n in ("gunicorn", "uvicorn") if re.search(rf"['\"]{n}\b", text)}
        return _PyDeps(
            "pip (setup.py)", names, {"copy_source_first": True, "install_project": True}
        )
    repo.notes.append("No requirements.txt, pyproject.toml or Pipfile: no dependencies installed")
    return _PyDeps("no dependency file", set(), {})


@dataclass
class _AppRef:
    framework: str | None  # "flask" | "fastapi" | None (made by a factory call)
    path: str
    attr: str
    factory: bool = False
    needs_args: bool = False


def _callee(node: ast.AST) -> str:
    """`Flask` for `Flask(...)` and `flask.Flask(...)`; "" for anything but a call."""
    if not isinstance(node, ast.Call):
        return ""
    if isinstance(node.func, ast.Name):
        return node.func.id
    return node.func.attr if isinstance(node.func, ast.Attribute) else ""


def _scan_module(tree: ast.Module, rel: str) -> tuple[list[_AppRef], set[str]]:
    refs: list[_AppRef] = []
    imports: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imports.add(node.module.split(".")[0])
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            callee = _callee(node.value) if node.value else ""
            framework = {"Flask": "flask", "FastAPI": "fastapi"}.get(callee)
            if framework or callee in FACTORY_NAMES:
                for target in targets:
                    if isinstance(target, ast.Name):
                        refs.append(_AppRef(framework, rel, target.id))
        elif isinstance(node, ast.FunctionDef) and node.name in FACTORY_NAMES:
            calls = {_callee(n) for n in ast.walk(node)}
            framework = "flask" if "Flask" in calls else "fastapi" if "FastAPI" in calls else None
            required = len(node.args.args) - len(node.args.defaults)
            if framework:
                refs.append(
                    _AppRef(framework, rel, node.name, factory=True, needs_args=required > 0)
                )
    return refs, imports


def _module_of(rel: str) -> tuple[str, str] | None:
    """(import root, dotted module) for a .py file; None if a part is not an identifier."""
    parts = rel[:-3].split("/")
    root = ""
    if parts[0] == "src" and len(parts) > 1:
        root, parts = "src", parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return root, ".".join(parts)


def _find_app(repo: _Repo, framework: str, required: bool) -> _AppRef | None:
    candidates = [
        f
        for f in repo.walk()
        if f.endswith(".py") and f.split("/")[-1] not in ("setup.py", "manage.py", "conftest.py")
    ]
    candidates.sort(
        key=lambda f: (
            f.count("/") - f.startswith("src/"),
            APP_FILE_RANK.get(f.split("/")[-1], 99),
            f,
        )
    )
    instances: list[_AppRef] = []
    factories: list[_AppRef] = []
    for rel in candidates[:400]:
        if time.monotonic() > repo.deadline:
            break
        text = repo.read(rel, 512_000) or ""
        if (
            "Flask" not in text
            and "FastAPI" not in text
            and not any(f in text for f in FACTORY_NAMES)
        ):
            continue
        try:
            refs, imports = _scan_module(ast.parse(text), rel)
        except (SyntaxError, ValueError):
            continue
        for ref in refs:
            fw = ref.framework or (framework if (framework in imports or required) else None)
            if fw != framework or _module_of(rel) is None:
                continue
            (factories if ref.factory else instances).append(ref)
    return (instances or factories or [None])[0]


def _find_manage(repo: _Repo) -> str | None:
    if repo.is_file("manage.py"):
        return "."
    dirs = sorted(
        {f.split("/")[0] for f in repo.walk() if f.count("/") == 1 and f.endswith("/manage.py")}
    )
    return dirs[0] if len(dirs) == 1 else None


def _django(repo: _Repo, base: str) -> str | None:
    """The gunicorn target (`mysite.wsgi:application`) of the project whose manage.py is in
    `base`: WSGI_APPLICATION from the settings, else the settings package's wsgi.py."""
    prefix = "" if base == "." else f"{base}/"
    manage = repo.read(f"{prefix}manage.py") or ""
    match = re.search(r"DJANGO_SETTINGS_MODULE['\"]\s*,\s*['\"]([\w.]+)['\"]", manage)
    settings_module = match.group(1) if match else None
    texts = []
    if settings_module:
        path = settings_module.replace(".", "/")
        for rel in (f"{prefix}{path}.py", f"{prefix}{path}/__init__.py"):
            if repo.is_file(rel):
                texts.append(repo.read(rel) or "")
                folder = rel.rpartition("/")[0]
                texts += [
                    repo.read(f) or ""
                    for f in repo.walk()
                    if f.startswith(folder + "/") and f.endswith(".py")
                ]
    joined = "\n".join(texts)
    wsgi = re.search(r"WSGI_APPLICATION\s*=\s*['\"]([\w.]+)\.(\w+)['\"]", joined)
    target = None
    if wsgi and repo.is_file(f"{prefix}{wsgi.group(1).replace('.', '/')}.py"):
        target = f"{wsgi.group(1)}:{wsgi.group(2)}"
    elif settings_module and repo.is_file(f"{prefix}{settings_module.split('.')[0]}/wsgi.py"):
        target = f"{settings_module.split('.')[0]}.wsgi:application"
    else:
        found = sorted(
            f
            for f in repo.walk()
            if f.startswith(prefix) and f[len(prefix) :].count("/") == 1 and f.endswith("/wsgi.py")
        )
        if found:
            target = found[0][len(prefix) : -3].replace("/", ".") + ":application"
    if not target:
        repo.notes.append("manage.py found but no wsgi module: not treated as a Django project")
        return None
    if texts and "STATIC_ROOT" not in joined:
        repo.notes.append("STATIC_ROOT is not set in the settings: collectstatic will be skipped")
    repo.notes.append(
        "collectstatic runs at build time; if the settings need environment variables then, "
        "it is skipped and the build log says so"
    )
    return target


def _server_for(command: str, names: set[str]) -> list[str]:
    tool = _first_tool(command)
    if (
        tool in ("gunicorn", "uvicorn", "daphne", "hypercorn", "waitress-serve")
        and tool not in names
    ):
        return ["waitress" if tool == "waitress-serve" else tool]
    return []


def _detect_python(repo: _Repo) -> BuildPlan | None:
    procfile = _procfile(repo)
    markers = [m for m in PY_MARKERS if repo.is_file(m)]
    manage_dir = _find_manage(repo)
    entry = repo.first(*PY_ENTRIES)
    web = procfile.get("web", "")
    pythonish = re.match(
        r"^(?:python\d?(?:\.\d+)?|gunicorn|uvicorn|daphne|hypercorn|waitress-serve|flask|fastapi)\b",
        web,
    )
    if not (markers or manage_dir or entry or pythonish):
        if web:
            repo.hints.append(
                f"Procfile web: '{web}' is not a Python command and there is no package.json"
            )
        return None
    first_note = len(repo.notes)
    version = _python_version(repo)
    deps = _python_deps(repo)
    names = deps.names
    command = _procfile_command(repo, procfile)
    app = df.PythonApp(version=version, command=command or "", description="", **deps.fields)
    tail = f"{deps.label}, Python {version}"
    port = df.PYTHON_PORT
    gunicorn = f"gunicorn --bind 0.0.0.0:${{PORT:-{df.PYTHON_PORT}}} --access-logfile -"
    django_target = _django(repo, manage_dir) if manage_dir else None
    flask = fastapi = None
    if not django_target:
        flask = _find_app(repo, "flask", "flask" in names)
        if not flask:
            fastapi = _find_app(repo, "fastapi", "fastapi" in names)
        if "flask" in names and not flask and not fastapi:
            repo.notes.append(
                "Flask is required but no `app = Flask(...)` or create_app() was found"
            )
    if django_target:
        target = django_target
        app.collectstatic_dir = manage_dir
        chdir = "" if manage_dir == "." else f" --chdir {shlex.quote(manage_dir)}"
        strategy, what = "django", f"Django app ({target.split(':')[0]})"
        default_command = f"{gunicorn}{chdir} {target}"
        servers = [] if "gunicorn" in names else ["gunicorn"]
    elif flask:
        root, module = _module_of(flask.path) or ("", "")
        target = f"{module}:{flask.attr}()" if flask.factory else f"{module}:{flask.attr}"
        if flask.needs_args:
            repo.notes.append(f"{flask.attr}() takes arguments but gunicorn calls it with none")
        path_opt = f" --pythonpath {root}" if root else ""
        strategy, what = "flask", f"Flask app ({target}) with gunicorn"
        default_command = f"{gunicorn}{path_opt} {shlex.quote(target)}"
        servers = [] if "gunicorn" in names else ["gunicorn"]
    elif fastapi:
        root, module = _module_of(fastapi.path) or ("", "")
        extra = (f" --app-dir {root}" if root else "") + (" --factory" if fastapi.factory else "")
        target = f"{module}:{fastapi.attr}"
        strategy, what = "fastapi", f"FastAPI app ({target}) with uvicorn"
        default_command = (
            f"uvicorn {target} --host 0.0.0.0 --port ${{PORT:-{df.PYTHON_PORT}}}{extra}"
        )
        servers = [] if "uvicorn" in names else ["uvicorn"]
    elif command:
        strategy, what, default_command, servers = "procfile", "Python app (Procfile)", "", []
    elif entry or repo.is_file("__main__.py"):
        run = f"python {entry}" if entry else "python ."
        strategy, what, default_command, servers = "python", f"Python app ({run})", run, []
        port = _hardcoded_port(repo.read(entry or "__main__.py", 256_000)) or port
    else:
        repo.hints.append(
            "Python project without an entry point: add a Procfile 'web:' line, or main.py/app.py"
        )
        del repo.notes[first_note:]  # they describe a Python build that will not happen
        return None
    if command:
        app.servers = _server_for(command, names)
        for server in app.servers:
            repo.notes.append(
                f"{server} is not in the dependencies: installed for the Procfile command"
            )
        port = _command_port(command) or port
        if strategy != "procfile":
            what += " (Procfile)"
    else:
        app.command = default_command
        app.servers = servers
        for server in servers:
            repo.notes.append(f"{server} is not in the dependencies: installed by Butler")
    if port != df.PYTHON_PORT:
        repo.notes.append(f"The app listens on {port} whatever PORT says")
    app.description = f"{what}, {tail}"
    return _generated(strategy, app.description, df.python_dockerfile(app), port, repo, [])


# ---------------------------------------------------------------------------------------------
# Compose, Dockerfile, static, and the entry point


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


def _detect_compose(repo: _Repo) -> BuildPlan | None:
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


def _detect_dockerfile(repo: _Repo) -> BuildPlan | None:
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
    summary = f"Dockerfile (FROM {info.base_images[-1] if info.base_images else 'scratch'}"
    summary += f", EXPOSE {port})" if port else ")"
    return BuildPlan(
        strategy="dockerfile",
        summary=summary,
        dockerfile=name,
        generated_dockerfile=None,
        container_port=port,
        base_images=info.base_images,
        notes=repo.notes,
    )


STATIC_DIRS = (".", "public", "dist", "build", "site", "_site", "www", "html", "docs")


def _detect_static(repo: _Repo) -> BuildPlan | None:
    folder = next((d for d in STATIC_DIRS if repo.is_file(f"{d}/index.html")), None)
    if folder is None:
        return None
    where = "index.html" if folder == "." else f"{folder}/index.html"
    site = df.StaticSite(description=f"Static site ({where}) served by nginx", source_dir=folder)
    return _generated(
        "static", site.description, df.static_dockerfile(site), df.NGINX_PORT, repo, []
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

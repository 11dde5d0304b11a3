"""Node apps: Next.js, a static SPA build served by nginx, any app with a start script."""

from __future__ import annotations

import json
import re
import shlex
import time
from dataclasses import dataclass

from .. import dockerfiles as df
from .commands import _command_port, _first_tool, _hardcoded_port, _procfile, _procfile_command
from .plan import BuildPlan, DetectionError, _generated
from .python import PY_MARKERS
from .repo import _Repo
from .versions import _node_version, _vparts


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

"""Node apps: Next.js, Nuxt, SvelteKit, Remix, Astro, static builds served by nginx (Vite,
Create React App, Gatsby, ...), TypeScript servers compiled before they start, and any app
with a start script. Frameworks are recognised in `node_frameworks.py`, package managers in
`node_manager.py`; this module puts the plan together."""

from __future__ import annotations

import json
import re
import shlex
import time

from .. import dockerfiles as df
from .commands import command_port, first_tool, hardcoded_port, start_command
from .declared import PlatformConfig, build_script, platform_config
from .node_frameworks import (
    FRAMEWORKS,
    Framework,
    NodeContext,
    static_build,
    static_tool,
    typescript_build,
)
from .node_manager import node_manager
from .plan import BuildPlan, DetectionError, generated_plan
from .python import PY_MARKERS
from .repo import Repo
from .versions import node_version

_PUBLIC_ENV = re.compile(
    r"\b((?:VITE|REACT_APP|NEXT_PUBLIC|VUE_APP|GATSBY|PUBLIC|NUXT_PUBLIC)_[A-Z0-9_]+)\b"
)
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


def _public_env_names(repo: Repo, prefixes: tuple[str, ...] | None = None) -> list[str]:
    """Public, build-time env names the frontend code or its .env files mention."""
    names: list[str] = []
    files = [
        f for f in repo.walk() if f.endswith(_FRONTEND_EXTS) or f.split("/")[-1].startswith(".env")
    ]
    for rel in files:
        if time.monotonic() > repo.deadline:
            break
        for name in _PUBLIC_ENV.findall(repo.read(rel, 256_000) or ""):
            if name not in names and (prefixes is None or name.startswith(prefixes)):
                names.append(name)
    return sorted(names)


# fmt: off
SERVER_DEPS = frozenset({
    "express", "fastify", "koa", "@hapi/hapi", "hapi", "@nestjs/core", "restify",
    "@remix-run/serve", "@remix-run/node", "@sveltejs/adapter-node", "@astrojs/node", "hono",
    "@hono/node-server", "polka", "json-server", "socket.io", "@feathersjs/feathers",
    "nuxt", "@react-router/serve",
})
# fmt: on
_DEV_SERVER = re.compile(
    r"^(?:npx\s+)?(?:vite|react-scripts\s+start|vue-cli-service\s+serve|parcel|serve|http-server"
    r"|live-server|lite-server|sirv|webpack(?:-dev-server|\s+serve)|ng\s+serve"
    r"|gatsby\s+(?:develop|serve)|astro\s+(?:dev|preview)|(?:npm|yarn|pnpm)\s+run\s+develop)\b"
)
LIFECYCLE = ("preinstall", "install", "postinstall", "prepare")


def read_package_json(repo: Repo) -> dict:
    """package.json as JSON (a BOM allowed); DetectionError saying where it is broken."""
    try:
        pkg = json.loads((repo.read("package.json") or "").lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        raise DetectionError(
            f"package.json is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from None
    if not isinstance(pkg, dict):
        raise DetectionError("package.json must be a JSON object")
    return pkg


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _context(repo: Repo, pkg: dict, cfg: PlatformConfig) -> NodeContext:
    scripts = {str(k): str(v) for k, v in _dict(pkg.get("scripts")).items()}
    dev = {str(k): str(v) for k, v in _dict(pkg.get("devDependencies")).items()}
    deps = {**dev, **{str(k): str(v) for k, v in _dict(pkg.get("dependencies")).items()}}
    start = cfg.start.command if cfg.start else None
    return NodeContext(repo, pkg, scripts, deps, dev, start)


def _entry(repo: Repo, pkg: dict) -> str | None:
    main = str(pkg.get("main") or "")
    return next(
        (
            f
            for f in (main, "server.js", "index.js", "app.js", "main.js", "server.mjs", "index.mjs")
            if f and repo.is_file(f)
        ),
        None,
    )


def _script_file(script: str) -> str | None:
    match = re.search(r"\bnode\s+(?:--?\S+\s+)*([\w./-]+\.[cm]?js)\b", script)
    return match.group(1) if match else None


def _framework(ctx: NodeContext) -> Framework | None:
    for find in FRAMEWORKS:
        found = find(ctx)
        if found is not None:
            return found
    return None


def detect_node(repo: Repo, *, forced: bool = False) -> BuildPlan | None:
    if not repo.is_file("package.json"):
        return None
    pkg = read_package_json(repo)
    cfg = platform_config(repo)
    ctx = _context(repo, pkg, cfg)
    scripts, deps, dev = ctx.scripts, ctx.deps, ctx.dev
    start = scripts.get("start", "")
    tool = static_tool(ctx)
    has_server = any(d in deps for d in SERVER_DEPS)
    entry = _entry(repo, pkg)
    static_start = not start or bool(_DEV_SERVER.match(start))
    framework = _framework(ctx)
    is_static = (
        framework is None
        and bool(scripts.get("build"))
        and not has_server
        and (tool is not None or static_start)
        and not ctx.declared_start
    )
    ts = typescript_build(ctx, _script_file(start) if start else None)
    runnable = (
        framework is not None
        or is_static
        or bool(start)
        or entry is not None
        or ctx.declared_start is not None
        or ts is not None
    )
    if not runnable:
        repo.notes.append("package.json has no start or build script: not treated as a Node app")
        repo.hints.append(
            'package.json: add a "start" script (or a "build" script for a static site)'
        )
        return None
    if not forced and not (framework or tool or start) and any(repo.is_file(m) for m in PY_MARKERS):
        repo.notes.append(
            "package.json looks like tooling for a Python app: building the Python app"
        )
        return None

    manager = node_manager(repo, pkg)
    floating = ("latest", "*", "x", "next", "")
    unpinned = [n for n, spec in deps.items() if spec.strip().lower() in floating]
    version = node_version(repo, pkg, unpinned=unpinned if manager.lock is None else None)
    command = start_command(repo, cfg)
    install_files = ["package.json"] + ([manager.lock] if manager.lock else [])
    install_files += [
        f for f in (".npmrc", ".yarnrc", ".yarnrc.yml", ".pnpmfile.cjs") if repo.is_file(f)
    ]
    copy_first = []
    if pkg.get("workspaces") or repo.is_file("pnpm-workspace.yaml"):
        copy_first.append("workspaces")
    if manager.berry and (repo.is_dir(".yarn") or "yarnPath" in (repo.read(".yarnrc.yml") or "")):
        copy_first.append("Yarn Berry's .yarn folder")
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
    if cfg.build:
        script = build_script(cfg.build.command, scripts)
        if script and script != "build":
            app.build_command = df.run_script(app, script)
            repo.notes.append(f"{cfg.build.source}: runs `{script}` (used as the build step)")
        else:
            repo.notes.append(
                f"{cfg.build.source} `{cfg.build.command}` is not run as such: Butler installs "
                "the dependencies and runs the build script itself"
            )
    tail = f"{manager.label}, Node {version}"
    port = df.NODE_PORT
    if framework is None and is_static:
        framework = static_build(ctx, tool)
    if framework is not None:
        strategy = framework.strategy
        app.kind = framework.kind
        for name, value in framework.fields.items():
            setattr(app, name, value)
        if app.kind == "nextjs":
            app.build_args = _public_env_names(repo, ("NEXT_PUBLIC_",))
            port = command_port(command) or port
        elif app.kind == "spa":
            app.build_args = _public_env_names(repo)
            port = df.NGINX_PORT
            framework.label += " served by nginx"
        else:
            app.prune = first_tool(app.command or start) not in dev and app.ship is None
            app.build_args = _public_env_names(repo) if app.build_step else []
            port = command_port(app.command) or port
        if app.kind == "spa" and not (app.build or app.build_command):
            app.build = True  # a static tool always builds; `npm run build` is its default
        description = f"{framework.label}, {tail}"
    else:
        strategy = "node"
        app.prune = first_tool(command or start) not in dev
        if ts is not None:
            app.build_command, compiled = ts
            app.expect = [(compiled, "the compiled entry file (in the tsconfig outDir)")]
            repo.notes.append(f"TypeScript: compiled with tsc before start ({compiled})")
            if not command and not start:
                app.command = f"node {shlex.quote(compiled)}"
        elif app.build_step and start:
            compiled = _script_file(start)
            if compiled and not repo.is_file(compiled):
                app.expect = [(compiled, "the entry file of the start script")]
        app.build_args = _public_env_names(repo) if app.build_step else []
        how = "declared start command" if command else ("npm start" if start else "node")
        if not command and not start and entry and ts is None:
            app.command = f"node {shlex.quote(entry)}"
            how = f"node {entry}"
        if ts is not None:
            how = f"TypeScript, {how}"
        description = f"Node app ({how}), {tail}"
        source_file = entry or _script_file(start)
        port = (
            command_port(command)
            or hardcoded_port(repo.read(source_file or "", 256_000) if source_file else None)
            or port
        )
        if port != df.NODE_PORT:
            repo.notes.append(f"The app listens on {port} whatever PORT says")
    app.description = description
    dockerfile = df.node_dockerfile(app)
    return generated_plan(strategy, description, dockerfile, port, repo, app.build_args)

"""Node frameworks with their own build output and start command, read from their config
files (parsed as code: `jsconfig.py`), never from text patterns.

Each `_framework_*` returns a `Framework` (or None when the app is not one): its strategy,
a label, and the fields of `NodeApp` it decides — build output to check, what to ship, how
to start, which host variable makes it listen on every address.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from .jsconfig import UNKNOWN, Call, read_js_config, unwrap
from .plan import DetectionError
from .repo import Repo
from .versions import satisfiable, semver_groups, version_parts

# Frameworks' own servers read HOST and default to localhost (Astro) or "all" (the others):
# setting it makes every one of them face outwards.
ALL_ADDRESSES = {"HOST": "0.0.0.0"}


@dataclass
class Framework:
    strategy: str  # nextjs | nuxt | sveltekit | remix | astro | node-static | node
    label: str
    kind: str  # NodeApp.kind: nextjs | spa | node
    fields: dict[str, Any] = field(default_factory=dict)  # NodeApp fields
    port_from_command: bool = True


@dataclass
class NodeContext:
    repo: Repo
    pkg: dict
    scripts: dict[str, str]
    deps: dict[str, str]  # dependencies + devDependencies
    dev: dict[str, str]
    declared_start: str | None  # Procfile / railway / render start command

    def has(self, *names: str) -> bool:
        return any(n in self.deps for n in names)


def config_file(repo: Repo, stem: str) -> str | None:
    return repo.first(
        *(f"{stem}.{ext}" for ext in ("ts", "mts", "js", "mjs", "cjs")),
    )


def read_config(repo: Repo, stem: str):
    """The parsed `<stem>.config.*` and its file name; (None, None) when there is none."""
    name = config_file(repo, f"{stem}.config")
    if not name:
        return None, None
    return read_js_config(repo.read(name, 512_000) or ""), name


def read_jsonc(text: str) -> Any:
    """JSON with comments and trailing commas (tsconfig.json): read as a JS object literal."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return unwrap(read_js_config(f"export default {text.strip() or '{}'}").exported)


def major_version(ctx: NodeContext, name: str) -> int | None:
    """The major version of dependency `name`: the lock file's, else the range's lowest."""
    lock = (
        ctx.repo.read("package-lock.json", 2_000_000)
        if ctx.repo.is_file("package-lock.json")
        else None
    )
    if lock:
        try:
            packages = json.loads(lock).get("packages") or {}
            version = (packages.get(f"node_modules/{name}") or {}).get("version")
            parts = version_parts(str(version or ""))
            if parts:
                return parts[0]
        except (json.JSONDecodeError, AttributeError):
            pass
    spec = str(ctx.deps.get(name, ""))
    groups = semver_groups(spec)
    if not groups or not any(groups):
        return None  # "latest", "*", a tag or a URL: the newest
    return next((m for m in range(0, 50) if satisfiable((m,), groups)), None)


def _note_unknown(ctx: NodeContext, name: str, key: str, assumed: str) -> None:
    ctx.repo.notes.append(f"{name}: `{key}` is computed when the config runs; assumed {assumed}")


# ---------------------------------------------------------------------------------------------
# Next.js


def _framework_next(ctx: NodeContext) -> Framework | None:
    if "next" not in ctx.deps:
        return None
    config, name = read_config(ctx.repo, "next")
    output = dist = None
    if config is not None:
        output = config.get("output")
        dist = config.get("distDir")
        if output is UNKNOWN:
            _note_unknown(ctx, name, "output", "a Next.js server (next start)")
            output = None
        if output not in (None, "standalone", "export"):
            ctx.repo.notes.append(f"{name}: output '{output}' is not one Butler knows; ignored")
            output = None
    if re.search(r"\bnext\s+export\b", ctx.scripts.get("build", "")):
        output = "export"  # Next.js before 14: `next build && next export`
    dist = dist if isinstance(dist, str) and dist.strip("./") else ".next"
    if output == "export" and not ctx.declared_start:
        dirs = ["out"] + ([dist.strip("/")] if dist != ".next" else [])
        return Framework(
            "node-static",
            "Next.js static export",
            "spa",
            {"output_dirs": dirs, "spa_fallback": False},
        )
    fields: dict[str, Any] = {"next_standalone": output == "standalone", "next_dist_dir": dist}
    if output == "standalone":
        fields["expect"] = [(f"{dist}/standalone/server.js", "the Next.js standalone server")]
    elif not ctx.declared_start:
        ctx.repo.notes.append("Tip: output: 'standalone' in next.config makes a much smaller image")
    return Framework("nextjs", "Next.js app", "nextjs", fields)


# ---------------------------------------------------------------------------------------------
# Nuxt


def _framework_nuxt(ctx: NodeContext) -> Framework | None:
    name = next((n for n in ("nuxt", "nuxt3", "nuxt-edge") if n in ctx.deps), None)
    if name is None:
        return None
    major = major_version(ctx, name)
    build = ctx.scripts.get("build", "")
    generate = "generate" in build or (not build and "generate" in ctx.scripts)
    if major is not None and major <= 2:
        if generate:
            return Framework("node-static", "Nuxt 2 static site", "spa", {"output_dirs": ["dist"]})
        fields = {
            "command": ctx.declared_start or "node_modules/.bin/nuxt start",
            "env": {**ALL_ADDRESSES, "NUXT_HOST": "0.0.0.0"},
            "expect": [(".nuxt", "the Nuxt build folder")],
        }
        return Framework("nuxt", "Nuxt 2 app", "node", fields)
    if generate:
        return Framework(
            "node-static",
            "Nuxt static site (nuxt generate)",
            "spa",
            {"output_dirs": [".output/public", "dist"]},
        )
    config, _ = read_config(ctx.repo, "nuxt")
    preset = config.get("nitro.preset") if config is not None else None
    if isinstance(preset, str) and preset not in ("node", "node-server", "node_server"):
        ctx.repo.notes.append(
            f"nuxt.config sets nitro.preset '{preset}'; Butler builds the node-server preset"
        )
    fields = {
        "env": {**ALL_ADDRESSES, "NITRO_HOST": "0.0.0.0", "NITRO_PRESET": "node-server"},
        "expect": [(".output/server/index.mjs", "the Nuxt server build")],
    }
    if ctx.declared_start:
        fields["command"] = ctx.declared_start
    else:
        # `.output` is self-contained: the runtime image needs no node_modules.
        fields["command"] = "node .output/server/index.mjs"
        fields["ship"] = [".output"]
    return Framework("nuxt", f"Nuxt {major or 3}+ app", "node", fields)


# ---------------------------------------------------------------------------------------------
# SvelteKit


def _adapter(ctx: NodeContext) -> tuple[str | None, dict]:
    """(adapter package, its options) from svelte.config.*; the installed one if unknown."""
    config, _ = read_config(ctx.repo, "svelte")
    adapter = config.get("kit.adapter") if config is not None else None
    if isinstance(adapter, Call) and adapter.module:
        options = next((a for a in adapter.args if isinstance(a, dict)), {})
        return adapter.module, options
    for module in ("@sveltejs/adapter-node", "@sveltejs/adapter-static"):
        if module in ctx.deps:
            return module, {}
    return ("@sveltejs/adapter-auto" if "@sveltejs/adapter-auto" in ctx.deps else None), {}


def _framework_sveltekit(ctx: NodeContext) -> Framework | None:
    if "@sveltejs/kit" not in ctx.deps:
        return None
    module, options = _adapter(ctx)
    if module == "@sveltejs/adapter-node":
        out = options.get("out") if isinstance(options.get("out"), str) else "build"
        out = out.strip("./") or "build"
        fields = {
            "command": ctx.declared_start or f"node {out}",
            "env": dict(ALL_ADDRESSES),
            "expect": [(f"{out}/index.js", "the SvelteKit node server (adapter-node)")],
        }
        return Framework("sveltekit", "SvelteKit app (adapter-node)", "node", fields)
    if module == "@sveltejs/adapter-static":
        pages = options.get("pages") if isinstance(options.get("pages"), str) else "build"
        fallback = isinstance(options.get("fallback"), str)
        return Framework(
            "node-static",
            "SvelteKit static site (adapter-static)",
            "spa",
            {"output_dirs": [pages.strip("./") or "build"], "spa_fallback": fallback},
        )
    if ctx.declared_start:
        return None  # the repo says how it starts: a plain Node app
    raise DetectionError(
        f"This SvelteKit app uses {module or 'no adapter'}, which builds no server Butler can "
        "run. Install @sveltejs/adapter-node (a Node server) or @sveltejs/adapter-static "
        "(a static site) and set it as kit.adapter in svelte.config.js."
    )


# ---------------------------------------------------------------------------------------------
# Remix, React Router (framework mode)


def _framework_remix(ctx: NodeContext) -> Framework | None:
    serve = next((n for n in ("@remix-run/serve", "@react-router/serve") if n in ctx.deps), None)
    dev = next((n for n in ("@remix-run/dev", "@react-router/dev") if n in ctx.deps), None)
    if not (serve or dev):
        return None
    label = "React Router app" if "react-router" in (serve or dev or "") else "Remix app"
    fields: dict[str, Any] = {"env": dict(ALL_ADDRESSES)}
    if not ctx.declared_start and not ctx.scripts.get("start"):
        server = "react-router-serve" if "react-router" in (serve or dev or "") else "remix-serve"
        entry = (
            "build/server/index.js"
            if ctx.repo.first("vite.config.ts", "vite.config.js")
            else "build/index.js"
        )
        fields["command"] = f"node_modules/.bin/{server} {entry}"
        fields["expect"] = [(entry, f"the server build of the {label}")]
    return Framework("remix", label, "node", fields)


# ---------------------------------------------------------------------------------------------
# Astro


def _framework_astro(ctx: NodeContext) -> Framework | None:
    if "astro" not in ctx.deps:
        return None
    config, name = read_config(ctx.repo, "astro")
    output = config.get("output") if config is not None else None
    out_dir = config.get("outDir") if config is not None else None
    out_dir = out_dir.strip("./") if isinstance(out_dir, str) and out_dir.strip("./") else "dist"
    adapter = config.get("adapter") if config is not None else None
    node_adapter = (isinstance(adapter, Call) and adapter.module == "@astrojs/node") or (
        adapter is UNKNOWN and "@astrojs/node" in ctx.deps
    )
    if output is UNKNOWN:
        _note_unknown(ctx, name, "output", "server" if node_adapter else "static")
        output = "server" if node_adapter else "static"
    if output in ("server", "hybrid") or (node_adapter and output is None):
        if not node_adapter:
            raise DetectionError(
                f"{name} sets output '{output}' without the Node adapter: add @astrojs/node "
                "(adapter: node({ mode: 'standalone' })) so Butler can run its server, or "
                "build a static site."
            )
        entry = f"{out_dir}/server/entry.mjs"
        fields = {
            "command": ctx.declared_start or f"node ./{entry}",
            "env": dict(ALL_ADDRESSES),
            "expect": [(entry, "the Astro node server (@astrojs/node)")],
        }
        return Framework("astro", "Astro server (@astrojs/node)", "node", fields)
    return Framework(
        "node-static",
        "Astro static site",
        "spa",
        {"output_dirs": [out_dir], "spa_fallback": False},
    )


# ---------------------------------------------------------------------------------------------
# Single-page apps and other static builds


def vite_output(repo: Repo) -> str | None:
    """Where `vite build` writes: build.outDir, relative to `root`."""
    config, name = read_config(repo, "vite")
    if config is None:
        return None
    root = config.get("root")
    out = config.get("build.outDir")
    if root is UNKNOWN or out is UNKNOWN:
        _note = f"{name}: the output folder is computed when the config runs; looked in dist/"
        repo.notes.append(_note)
        return None
    base = root if isinstance(root, str) else "."
    out = out if isinstance(out, str) else "dist"
    path = posixpath.normpath(posixpath.join(base, out))
    if path.startswith(".."):
        repo.notes.append(f"{name}: build.outDir '{out}' is outside the app folder")
        return None
    return path


STATIC_TOOLS = {
    "gatsby": ("Gatsby", ["public"], False),
    "vite": ("Vite", ["dist"], True),
    "react-scripts": ("Create React App", ["build"], True),
    "@vue/cli-service": ("Vue CLI", ["dist"], True),
    "parcel": ("Parcel", ["dist"], True),
    "parcel-bundler": ("Parcel", ["dist"], True),
    "@angular/cli": ("Angular", ["dist"], True),
}


def static_tool(ctx: NodeContext) -> str | None:
    return next((t for t in STATIC_TOOLS if t in ctx.deps), None)


def angular_outputs(repo: Repo) -> list[str]:
    dirs: list[str] = []
    data = read_jsonc(repo.read("angular.json") or "{}") if repo.is_file("angular.json") else {}
    projects = data.get("projects") if isinstance(data, dict) else None
    for project in (projects or {}).values() if isinstance(projects, dict) else []:
        try:
            out = project["architect"]["build"]["options"]["outputPath"]
        except (KeyError, TypeError):
            continue
        out = out.get("base") if isinstance(out, dict) else out
        if isinstance(out, str):
            dirs += [f"{out}/browser", out]
    return dirs


def static_build(ctx: NodeContext, tool: str | None) -> Framework:
    label, dirs, fallback = STATIC_TOOLS.get(tool or "", ("Static", ["dist"], True))
    dirs = list(dirs)
    if tool == "vite":
        out = vite_output(ctx.repo)
        if out:
            dirs = [out]
    if tool == "@angular/cli":
        dirs = angular_outputs(ctx.repo) + dirs
    for name in ("dist", "build", "out"):
        if name not in dirs and tool not in ("gatsby",):
            dirs.append(name)
    return Framework(
        "node-static",
        f"{label} static build",
        "spa",
        {"output_dirs": dirs, "spa_fallback": fallback},
    )


FRAMEWORKS = (
    _framework_next,
    _framework_nuxt,
    _framework_sveltekit,
    _framework_remix,
    _framework_astro,
)


# ---------------------------------------------------------------------------------------------
# TypeScript servers


def typescript_build(ctx: NodeContext, start_file: str | None) -> tuple[str, str] | None:
    """(build command, compiled entry) for a TypeScript app with no build script whose start
    file is compiled output (`node dist/index.js`) that the repo does not contain."""
    if "typescript" not in ctx.deps or not ctx.repo.is_file("tsconfig.json"):
        return None
    if ctx.scripts.get("build"):
        return None
    tsconfig = read_jsonc(ctx.repo.read("tsconfig.json") or "{}")
    options = tsconfig.get("compilerOptions") if isinstance(tsconfig, dict) else None
    out_dir = options.get("outDir") if isinstance(options, dict) else None
    out_dir = posixpath.normpath(out_dir) if isinstance(out_dir, str) else None
    entry = start_file or str(ctx.pkg.get("main") or "") or None
    if entry is None and out_dir:
        entry = f"{out_dir}/index.js"
    if not entry or ctx.repo.is_file(entry) or not entry.endswith((".js", ".mjs", ".cjs")):
        return None
    if out_dir and not posixpath.normpath(entry).startswith(out_dir + "/"):
        return None
    return "node_modules/.bin/tsc -p tsconfig.json", entry

"""Generated Dockerfiles for Node apps: a Next.js server, a static build served by nginx,
and any other server (Nuxt's `.output`, SvelteKit's adapter-node, Remix, Astro's node
adapter, a TypeScript app compiled before it starts, a plain `npm start`).

After a build, every file the start command or nginx relies on is checked (`expect`), so a
build that wrote its output elsewhere fails right there, saying what was expected where.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from .common import (
    APP_USER,
    NODE_PORT,
    cmd,
    expect_line,
    nginx_image,
    node_image,
    shell_echo,
    squeeze,
    user_line,
)
from .static import nginx_conf, nginx_tail


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
    build_command: str | None = None  # instead of `<manager> run build` (tsc, build:prod)
    build_args: list[str] = field(default_factory=list)  # public env names baked in at build
    command: str | None = None  # node: start command (Procfile or `npm start`)
    prune: bool = False  # node: drop devDependencies from the runtime image
    output_dirs: list[str] = field(default_factory=lambda: ["dist", "build", "out"])  # spa
    next_standalone: bool = False
    next_dist_dir: str = ".next"
    has_public_dir: bool = False
    # (path, what) that must exist after the build: checked with a clear message.
    expect: list[tuple[str, str]] = field(default_factory=list)
    # node: copy only these paths to the runtime image (Nuxt's self-contained `.output`)
    ship: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)  # runtime ENV (HOST=0.0.0.0, ...)
    spa_fallback: bool = True  # spa: unknown paths get index.html (client-side routing)

    @property
    def berry(self) -> bool:
        return self.manager == "yarn" and bool(self.manager_version)

    @property
    def build_step(self) -> str | None:
        if self.build_command:
            return self.build_command
        return run_script(self, "build") if self.build else None


def run_script(app: NodeApp, script: str) -> str:
    return {"pnpm": "pnpm run", "yarn": "yarn run"}.get(app.manager, "npm run") + f" {script}"


def _setup(app: NodeApp) -> list[str]:
    if app.manager == "pnpm":
        return [f"RUN npm install -g pnpm@{app.manager_version or 'latest'}"]
    if app.berry:
        # The images ship yarn 1; corepack fetches Berry from repo.yarnpkg.com, which a
        # mirror-only network cannot reach, while npm serves the same release.
        version = app.manager_version or "latest"
        return [
            f"RUN npm install -g --force @yarnpkg/cli-dist@{version}",
            # node_modules rather than Plug'n'Play: later steps copy node_modules between
            # stages and start commands run node directly.
            "ENV YARN_NODE_LINKER=node-modules YARN_ENABLE_TELEMETRY=0",
        ]
    return []


def _install(app: NodeApp, *, production: bool = False) -> str:
    if app.manager == "pnpm":
        frozen = " --frozen-lockfile" if app.lock_file else ""
        return f"pnpm install{frozen}" + (" --prod" if production else "")
    if app.manager == "yarn":
        if app.berry:
            return "yarn install --immutable" if app.lock_file else "yarn install"
        frozen = " --frozen-lockfile" if app.lock_file else ""
        return f"yarn install{frozen}" + (" --production" if production else "")
    base = "npm ci" if app.lock_file else "npm install"
    return base + (" --omit=dev" if production else "")


def _prune(app: NodeApp) -> str | None:
    if app.manager == "pnpm":
        return "pnpm prune --prod"
    if app.manager == "npm":
        return "npm prune --omit=dev"
    if not app.berry and app.lock_file:  # yarn 1 reinstalls from its cache
        return "yarn install --production --frozen-lockfile --ignore-scripts --prefer-offline"
    return None


def _deps(app: NodeApp, *, production: bool = False) -> list[str]:
    """Install lines; the whole source is copied first only when the install needs it."""
    lines = _setup(app)
    if app.copy_source_first:
        return [*lines, "COPY . .", f"RUN {_install(app, production=production)}"]
    return [
        *lines,
        f"COPY {' '.join(app.install_files)} ./",
        f"RUN {_install(app, production=production)}",
    ]


def _build_args(app: NodeApp) -> list[str]:
    # ARGs are visible to RUN as env vars and unset when not passed, so a value from a
    # committed .env.production is not overridden by an empty one; nothing persists in the image.
    return [f"ARG {name}" for name in app.build_args]


def _expectations(app: NodeApp) -> list[str]:
    step = app.build_step or "the build"
    return [expect_line(path, what, step) for path, what in app.expect]


def _env(app: NodeApp) -> list[str]:
    if not app.env:
        return []
    return ["ENV " + " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(app.env.items()))]


def node_dockerfile(app: NodeApp) -> str:
    if app.kind == "nextjs":
        return _nextjs(app)
    if app.kind == "spa":
        return _spa(app)
    return _server(app)


def _nextjs(app: NodeApp) -> str:
    image = node_image(app.version)
    dist = app.next_dist_dir.strip("/") or ".next"
    lines = [
        f"# Generated by Butler: {app.description}",
        f"FROM {image} AS deps",
        "WORKDIR /app",
        *_deps(app),
        "",
        f"FROM {image} AS build",
        "WORKDIR /app",
        "ENV NEXT_TELEMETRY_DISABLED=1",
        *_setup(app),
        "COPY --from=deps /app/node_modules ./node_modules",
        "COPY . .",
        *_build_args(app),
        f"RUN {app.build_step or 'node_modules/.bin/next build'}",
        *_expectations(app),
        "",
        f"FROM {image} AS runner",
        "WORKDIR /app",
        "ENV NODE_ENV=production NEXT_TELEMETRY_DISABLED=1",
        user_line(),
    ]
    own = f"--chown={APP_USER}:{APP_USER}"
    if app.command:  # the repo decides the start command: keep the whole app
        lines.append(f"COPY --from=build {own} /app ./")
        command = app.command
    elif app.next_standalone:
        lines += [
            f"COPY --from=build {own} /app/{dist}/standalone ./",
            f"COPY --from=build {own} /app/{dist}/static ./{dist}/static",
        ]
        if app.has_public_dir:
            lines.append(f"COPY --from=build {own} /app/public ./public")
        lines.append("ENV HOSTNAME=0.0.0.0")
        command = "node server.js"
    else:
        lines.append(f"COPY --from=build {own} /app ./")
        command = f"node_modules/.bin/next start -H 0.0.0.0 -p ${{PORT:-{NODE_PORT}}}"
    lines += [*_env(app), f"USER {APP_USER}", f"ENV PORT={NODE_PORT}", f"EXPOSE {NODE_PORT}"]
    lines.append(cmd(command))
    return "\n".join(squeeze(lines)) + "\n"


def _spa(app: NodeApp) -> str:
    dirs = " ".join(shlex.quote(d) for d in app.output_dirs)
    names = ", ".join(f"/app/{d}/" for d in app.output_dirs)
    step = app.build_step or run_script(app, "build")
    missing = shell_echo(
        f"Butler expected `{step}` to write index.html into one of {names} and found none. "
        "Check the output folder of the build (the framework config may set another one)."
    )
    collect = (
        f'RUN mkdir -p /out && for d in {dirs}; do if [ -f "$d/index.html" ]; then'
        f' cp -a "$d/." /out/ && exit 0; fi; done; {missing}; exit 1'
    )
    lines = [
        f"# Generated by Butler: {app.description}",
        f"FROM {node_image(app.version)} AS build",
        "WORKDIR /app",
        *_deps(app),
        "COPY . ." if not app.copy_source_first else "",
        *_build_args(app),
        f"RUN {step}",
        *_expectations(app),
        collect,
        "",
        f"FROM {nginx_image()}",
        nginx_conf(spa=app.spa_fallback),
        "COPY --from=build /out /usr/share/nginx/html",
        *nginx_tail(),
    ]
    return "\n".join(squeeze(lines)) + "\n"


def _server(app: NodeApp) -> str:
    image = node_image(app.version)
    command = app.command or "npm start"
    own = f"--chown={APP_USER}:{APP_USER}"
    if app.build_step:
        prune = _prune(app) if app.prune and app.ship is None else None
        lines = [
            f"# Generated by Butler: {app.description}",
            f"FROM {image} AS build",
            "WORKDIR /app",
            *_deps(app),
            "COPY . ." if not app.copy_source_first else "",
            *_build_args(app),
            f"RUN {app.build_step}",
            *_expectations(app),
            f"RUN {prune}" if prune else "",
            "",
            f"FROM {image}",
            "WORKDIR /app",
            user_line(),
        ]
        if app.ship is None:
            lines.append(f"COPY --from=build {own} /app ./")
        else:
            lines += [f"COPY --from=build {own} /app/{p} ./{p}" for p in app.ship]
    else:
        lines = [
            f"# Generated by Butler: {app.description}",
            f"FROM {image}",
            "WORKDIR /app",
            user_line(),
            *_deps(app, production=app.prune),
        ]
        if not app.copy_source_first:
            lines.append(f"COPY {own} . .")
        lines += _expectations(app)
    lines += [
        "ENV NODE_ENV=production",
        *_env(app),
        f"USER {APP_USER}",
        f"ENV PORT={NODE_PORT}",
        f"EXPOSE {NODE_PORT}",
        cmd(command),
    ]
    return "\n".join(squeeze(lines)) + "\n"

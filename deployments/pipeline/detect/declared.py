"""Commands a repository declares for a platform: a Procfile (Heroku, Dokku), `railway.json` /
`railway.toml` (Railway), `render.yaml` (Render). Each file is read as what it is (JSON, TOML,
YAML), never searched with patterns.

Start commands are respected in this order: Procfile `web:`, Railway's `deploy.startCommand`,
the `startCommand` of Render's web service. Build commands are not run as they are: Butler
installs dependencies and builds the app itself, and a platform build often does work that
cannot happen in an image build (Render's Django example migrates a database there). What a
build command adds — a build script other than `build` — is taken from it.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass

import yaml

from .repo import Repo

_PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+)\s*:\s*(.*)$")


def parse_procfile(text: str) -> dict[str, str]:
    """Process types of a Procfile: `web: gunicorn app:app` -> {"web": "gunicorn app:app"}.

    A BOM, CRLF line ends, comments and blank lines are allowed; the first line of a type
    wins, as Heroku does.
    """
    entries: dict[str, str] = {}
    for raw in text.lstrip("\ufeff").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _PROCFILE_LINE.match(line)
        if match and match.group(2).strip():
            entries.setdefault(match.group(1), match.group(2).strip())
    return entries


@dataclass(frozen=True)
class Declared:
    """A command and where it came from (`Procfile web`, `railway.json deploy.startCommand`)."""

    command: str
    source: str


@dataclass
class PlatformConfig:
    start: Declared | None = None
    build: Declared | None = None
    release: Declared | None = None  # runs before each start (Procfile `release:`)
    root_dir: str | None = None  # Render's rootDir of the web service
    runtime: str | None = None  # Render's runtime/env: node, python, docker, static
    static_dir: str | None = None  # Render's staticPublishPath
    notes: list[str] | None = None


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _railway(repo: Repo, cfg: PlatformConfig) -> None:
    data: object = None
    source = ""
    if repo.is_file("railway.json"):
        source = "railway.json"
        try:
            data = json.loads((repo.read("railway.json") or "").lstrip("\ufeff"))
        except json.JSONDecodeError as exc:
            cfg.notes.append(f"railway.json is not valid JSON (line {exc.lineno}); ignored")
    elif repo.is_file("railway.toml"):
        source = "railway.toml"
        try:
            data = tomllib.loads(repo.read("railway.toml") or "")
        except tomllib.TOMLDecodeError as exc:
            cfg.notes.append(f"railway.toml is not valid TOML ({exc}); ignored")
    if not isinstance(data, dict):
        return
    deploy = data.get("deploy") if isinstance(data.get("deploy"), dict) else {}
    build = data.get("build") if isinstance(data.get("build"), dict) else {}
    start = _text(deploy.get("startCommand"))
    if start and cfg.start is None:
        cfg.start = Declared(start, f"{source} deploy.startCommand")
    command = _text(build.get("buildCommand"))
    if command and cfg.build is None:
        cfg.build = Declared(command, f"{source} build.buildCommand")


def _render_service(data: object) -> dict | None:
    if not isinstance(data, dict) or not isinstance(data.get("services"), list):
        return None
    services = [s for s in data["services"] if isinstance(s, dict)]
    webs = [s for s in services if str(s.get("type", "")).lower() == "web"]
    return (webs or [None])[0]


def _render(repo: Repo, cfg: PlatformConfig) -> None:
    name = repo.first("render.yaml", "render.yml")
    if not name:
        return
    try:
        data = yaml.safe_load(repo.read(name) or "")
    except yaml.YAMLError:
        cfg.notes.append(f"{name} is not valid YAML; ignored")
        return
    service = _render_service(data)
    if service is None:
        return
    label = f"{name} service '{service.get('name', 'web')}'"
    start = _text(service.get("startCommand"))
    if start and cfg.start is None:
        cfg.start = Declared(start, f"{label} startCommand")
    build = _text(service.get("buildCommand"))
    if build and cfg.build is None:
        cfg.build = Declared(build, f"{label} buildCommand")
    cfg.runtime = _text(service.get("runtime")) or _text(service.get("env"))
    cfg.root_dir = _text(service.get("rootDir"))
    cfg.static_dir = _text(service.get("staticPublishPath"))


def platform_config(repo: Repo) -> PlatformConfig:
    """What the repo's Procfile, Railway and Render files declare (read once per detection;
    what could not be read is noted once)."""
    cached = repo.memo.get("platform")
    if isinstance(cached, PlatformConfig):
        return cached
    cfg = PlatformConfig(notes=[])
    repo.memo["platform"] = cfg
    procs = parse_procfile(repo.read("Procfile") or "") if repo.is_file("Procfile") else {}
    if procs.get("web"):
        cfg.start = Declared(procs["web"], "Procfile web")
    if procs.get("release"):
        cfg.release = Declared(procs["release"], "Procfile release")
    _railway(repo, cfg)
    _render(repo, cfg)
    repo.notes += cfg.notes or []
    return cfg


_SCRIPT_RUN = re.compile(r"^(?:npm|pnpm|yarn)(?:\s+run(?:-script)?)?\s+([\w:.-]+)$")
_INSTALL_WORDS = {"install", "i", "ci", "add"}


def build_script(command: str, scripts: dict[str, str]) -> str | None:
    """The package.json script a declared build command runs besides installing, if any:
    `yarn; yarn build:prod` -> `build:prod`; `npm install` -> None."""
    found = None
    for part in re.split(r"\s*(?:&&|;|\|\|)\s*", command.strip()):
        match = _SCRIPT_RUN.match(part.strip())
        if not match:
            continue
        name = match.group(1)
        if name in _INSTALL_WORDS:
            continue
        if name in scripts:
            found = name
    return found


def command_words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()

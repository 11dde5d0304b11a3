"""Find the environment variables a source tree reads, without running any of it.

`detect_in_directory(root)` walks the tree and returns the variable names it finds, with
where each was found, how (the pattern), a priority (10 when a config file names it, else
5) and a default when the source shows one. It is pure: it reads files, writes nothing and
needs no database.

Safety: the walk never follows a symlink (directories are opened relative to their parent
with O_NOFOLLOW, files likewise), so a repository cannot point the scanner at files outside
itself. Files over 1 MB, binary files (a NUL byte in the first 8 KB) and dependency, VCS and
build-output directories are skipped, and the walk stops when the time budget is spent
(`truncated`), keeping what it found so far. Files at a level are scanned before the
directories below it, so the root's config files come first.

Decisions:
- Common system and toolchain names are ignored (`IGNORED_NAMES`, `IGNORED_PREFIXES`):
  `NODE_ENV`, `PATH`, `HOME`, `PORT` (Butler sets it), proxies, locale, Python/Go/npm
  toolchain knobs and Docker's predefined build args. `DEBUG` is *not* ignored: it is an
  application setting with security consequences that a user should see.
- Names with no upper-case letter (`http_proxy`, `npm_package_version`) read in code are
  ignored as noise; in declaration files (`.env.example`, `app.json`) every name counts,
  because the author listed it on purpose.
- Compose interpolation: `${X}`, `${X:-d}`, `${X-d}`, `${X:=d}`, `${X:?msg}`, `${X:+alt}`
  and bare `$X` count (`$$` is a literal dollar); so do `environment:` entries passed
  through from the host (`- X` or `X:` with no value).
"""

from __future__ import annotations

import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from envvars.detection.scanners import SCANNERS

MAX_FILE_BYTES = 1024 * 1024
BINARY_SNIFF_BYTES = 8192
MAX_DEPTH = 64
CONFIG_PRIORITY = 10
CODE_PRIORITY = 5

SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "bower_components",
        "vendor",
        "venv",
        ".venv",
        "virtualenv",
        "site-packages",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        "dist",
        "build",
        ".next",
        ".nuxt",
        ".svelte-kit",
        ".output",
        ".turbo",
        ".cache",
        ".parcel-cache",
        "out",
        "target",
        "coverage",
        ".idea",
        ".vscode",
    }
)

IGNORED_NAMES = frozenset(
    {
        "NODE_ENV",
        "PATH",
        "HOME",
        "PWD",
        "OLDPWD",
        "HOSTNAME",
        "HOST",
        "PORT",
        "CI",
        "USER",
        "USERNAME",
        "LOGNAME",
        "SHELL",
        "SHLVL",
        "LANG",
        "LANGUAGE",
        "TERM",
        "TZ",
        "TMPDIR",
        "TMP",
        "TEMP",
        "EDITOR",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "FTP_PROXY",
        "PYTHONPATH",
        "PYTHONUNBUFFERED",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONHASHSEED",
        "PYTHONIOENCODING",
        "VIRTUAL_ENV",
        "DEBIAN_FRONTEND",
        "GOPATH",
        "GOROOT",
        "GOOS",
        "GOARCH",
        "GOFLAGS",
        "GOPROXY",
        "CGO_ENABLED",
        "NODE_VERSION",
        "YARN_VERSION",
        "NODE_OPTIONS",
        "TARGETPLATFORM",
        "TARGETOS",
        "TARGETARCH",
        "TARGETVARIANT",
        "BUILDPLATFORM",
        "BUILDOS",
        "BUILDARCH",
        "BUILDVARIANT",
    }
)
IGNORED_PREFIXES = ("npm_", "NPM_CONFIG_", "npm_config_", "LC_", "PIP_", "BUILDKIT_")

JS_EXTENSIONS = frozenset({".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs", ".vue", ".svelte"})
RUBY_EXTENSIONS = frozenset({".rb", ".rake", ".ru"})
CONFIG_JS_STEMS = frozenset(
    {
        "next.config",
        "nuxt.config",
        "vite.config",
        "svelte.config",
        "astro.config",
        "remix.config",
        "gatsby-config",
    }
)
COMPOSE_FILE = re.compile(r"(?:docker-)?compose(?:\.[\w.-]+)?\.ya?ml")
ENV_EXAMPLE_FILE = re.compile(
    r"\.?env(?:\.[\w-]+)?\.(?:example|sample|template|dist)|(?:example|sample)\.env"
)
DOCKERFILE = re.compile(r"(?:Dockerfile|Containerfile)(?:\.[\w.-]+)?|[\w.-]+\.Dockerfile")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_OPEN_DIR = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)


@dataclass
class DetectedVar:
    name: str
    detected_from: str  # path relative to the scanned root, "/"-separated
    source: str  # the pattern, e.g. "process.env", "os.getenv", ".env.example"
    priority: int
    default: str | None = None
    build_time: bool = False
    description: str | None = None

    def rank(self) -> tuple:
        return (-self.priority, self.default is None, self.detected_from, self.source)


@dataclass
class DetectionResult:
    variables: dict[str, DetectedVar] = field(default_factory=dict)
    scanned_files: int = 0
    skipped_files: int = 0
    truncated: bool = False
    elapsed: float = 0.0


# ---- the scanner -----------------------------------------------------------------------


class _Scan:
    def __init__(self, deadline: float):
        self.deadline = deadline
        self.result = DetectionResult()

    def add(
        self,
        name: str,
        path: str,
        source: str,
        priority: int,
        default: str | None = None,
        *,
        declared: bool = False,
        build_time: bool = False,
        description: str | None = None,
    ) -> None:
        if not NAME.fullmatch(name) or len(name) > 256:
            return
        if name in IGNORED_NAMES or name.startswith(IGNORED_PREFIXES):
            return
        if not declared and not any(c.isupper() for c in name):
            return
        found = DetectedVar(name, path, source, priority, default, build_time, description)
        current = self.result.variables.get(name)
        if current is None or found.rank() < current.rank():
            if current is not None:
                found.build_time = found.build_time or current.build_time
                found.description = found.description or current.description
            self.result.variables[name] = found
        else:
            current.build_time = current.build_time or build_time
            current.description = current.description or description

    # -- walking --

    def walk(self, dir_fd: int, rel: str, depth: int) -> None:
        if time.monotonic() > self.deadline:
            self.result.truncated = True
            return
        with os.scandir(dir_fd) as it:
            entries = list(it)
        subdirs = []
        for entry in entries:
            if entry.is_symlink():
                self.result.skipped_files += 1
            elif entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIP_DIRS:
                    subdirs.append(entry.name)
            elif entry.is_file(follow_symlinks=False):
                kind = _classify(entry.name, rel)
                if kind is not None:
                    if time.monotonic() > self.deadline:
                        self.result.truncated = True
                        return
                    self.scan_file(dir_fd, entry.name, f"{rel}{entry.name}", kind)
        if depth >= MAX_DEPTH:
            return
        for name in sorted(subdirs):
            try:
                fd = os.open(name, _OPEN_DIR, dir_fd=dir_fd)
            except OSError:  # replaced by a symlink, or unreadable: not ours to follow
                self.result.skipped_files += 1
                continue
            try:
                self.walk(fd, f"{rel}{name}/", depth + 1)
            finally:
                os.close(fd)
            if self.result.truncated:
                return

    def scan_file(self, dir_fd: int, name: str, path: str, kind: tuple[str, int]) -> None:
        try:
            fd = os.open(name, _OPEN_FILE, dir_fd=dir_fd)
        except OSError:
            self.result.skipped_files += 1
            return
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
                self.result.skipped_files += 1
                return
            data = os.read(fd, info.st_size + 1) if info.st_size else b""
        except OSError:
            self.result.skipped_files += 1
            return
        finally:
            os.close(fd)
        if len(data) > MAX_FILE_BYTES or b"\0" in data[:BINARY_SNIFF_BYTES]:
            self.result.skipped_files += 1
            return
        self.result.scanned_files += 1
        language, priority = kind
        SCANNERS[language](self, data, path, priority)


def _classify(name: str, rel: str) -> tuple[str, int] | None:
    """(scanner, priority) for a file name, or None for files the scanner ignores."""
    stem, dot, ext = name.rpartition(".")
    ext = f".{ext}" if dot else ""
    if ext in JS_EXTENSIONS:
        config = stem in CONFIG_JS_STEMS
        return ("js", CONFIG_PRIORITY if config else CODE_PRIORITY)
    if ext == ".py":
        config = name == "settings.py" or rel.endswith("settings/")
        return ("py", CONFIG_PRIORITY if config else CODE_PRIORITY)
    if ext == ".go":
        return ("go", CODE_PRIORITY)
    if ext in RUBY_EXTENSIONS or name in {"Gemfile", "Rakefile"}:
        return ("rb", CODE_PRIORITY)
    if name == "package.json":
        return ("package_json", CONFIG_PRIORITY)
    if name == "app.json":
        return ("app_json", CONFIG_PRIORITY)
    if ENV_EXAMPLE_FILE.fullmatch(name):
        return ("env_example", CONFIG_PRIORITY)
    if COMPOSE_FILE.fullmatch(name):
        return ("compose", CONFIG_PRIORITY)
    if DOCKERFILE.fullmatch(name):
        return ("dockerfile", CODE_PRIORITY)
    return None


def detect_in_directory(
    root: str | os.PathLike, *, time_budget: float | None = None
) -> DetectionResult:
    """The environment variables the source under `root` reads (see the module docstring).

    `time_budget` (seconds) defaults to `settings.BUTLER_DETECT_TIME_BUDGET`; when it runs
    out the result has `truncated=True` and whatever was found until then.
    """
    if time_budget is None:
        from django.conf import settings

        time_budget = float(settings.BUTLER_DETECT_TIME_BUDGET)
    started = time.monotonic()
    scan = _Scan(deadline=started + max(time_budget, 0.0))
    root_fd = os.open(Path(root), os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        scan.walk(root_fd, "", 0)
    finally:
        os.close(root_fd)
    scan.result.elapsed = time.monotonic() - started
    return scan.result

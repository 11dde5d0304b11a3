"""What every generated Dockerfile shares: base images from settings, the app user, the CMD
form, quoting, the check that a build step produced what it should, the .dockerignore."""

from __future__ import annotations

import json
import re
import shlex

from django.conf import settings

GENERATED_DOCKERFILE = "Dockerfile.butler"
PYTHON_PORT = 8000
NODE_PORT = 3000
NGINX_PORT = 80
APP_USER = "app"
APP_UID = 10001


def python_image(version: str) -> str:
    return settings.BUTLER_PYTHON_IMAGE.format(version=version)


def node_image(version: str) -> str:
    return settings.BUTLER_NODE_IMAGE.format(version=version)


def nginx_image() -> str:
    return settings.BUTLER_NGINX_IMAGE


def user_line() -> str:
    """Create the app user (`useradd` on Debian-based images, busybox `adduser` if a mirror
    serves Alpine ones) and give it /app, so the app can write there (SQLite, caches)."""
    return (
        f"RUN (id -u {APP_USER} >/dev/null 2>&1 || useradd --create-home --uid {APP_UID}"
        f" {APP_USER} 2>/dev/null || adduser -D -u {APP_UID} {APP_USER})"
        f" && chown {APP_USER}:{APP_USER} /app"
    )


def cmd(command: str) -> str:
    """Exec-form CMD running `command` through sh (for $PORT), exec'd when it is simple."""
    simple = not re.search(r"[;&|`]|\$\(|\n", command)
    return "CMD " + json.dumps(["sh", "-c", f"exec {command}" if simple else command])


def quote_all(items: list[str]) -> str:
    # A value with a line break would end the RUN instruction: such a value is not a package.
    return " ".join(shlex.quote(i) for i in items if "\n" not in i and "\r" not in i)


def shell_echo(message: str) -> str:
    """`echo '<message>' >&2` with the message safely quoted for sh."""
    return f"echo {shlex.quote(message)} >&2"


def expect_line(path: str, what: str, step: str, workdir: str = "/app") -> str:
    """A RUN that fails the build, saying what was expected where, when `path` is missing.

    Without it the failure shows up later and elsewhere (a COPY of a folder that does not
    exist, or an app that cannot find its entry file at start).
    """
    target = path.rstrip("/")
    where = f"{workdir.rstrip('/')}/{target}"
    message = (
        f"Butler expected {what} at {where} after `{step}`, but it is not there. "
        "Check the output folder of the build (the framework config may set another one) "
        "or the build script."
    )
    return f"RUN test -e {shlex.quote(target)} || ({shell_echo(message)}; exit 1)"


def squeeze(lines: list[str]) -> list[str]:
    """Drop the empty strings that stand for skipped steps, keep single blank separators."""
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return out


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
        ".nuxt\n"
        ".output\n"
        ".svelte-kit\n"
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

"""Cloning user repositories.

`clone()` validates the URL and branch first (`rules.py`; a refused one starts no process),
resolves the host and checks its addresses (`addresses.py`), then runs a shallow, hook-less,
submodule-less `git clone` in a clean environment pinned to the address it checked, with a
time limit, a size limit and a cancel token, and reads the commit and tree SHAs back.

A private repository's credential (an access token, or the project's deploy key) reaches git
through its environment and a file in a throwaway home directory: never in the command line,
a URL or a log line.

git runs through `subprocess` with an explicit environment rather than GitPython's
`Git.execute()`, which always starts from a copy of `os.environ`: git must see neither
Butler's secrets nor a `GIT_*` variable set on the Butler host. (GitPython's process-free
GitDB reader is deprecated upstream for security reasons, so it is not used either.)
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from core.addresses import AddressRefused, check_addresses, resolve
from core.cancel import Cancelled, CancelToken
from core.processes import ProcessStartError, run_streaming

from .rules import GitSourceError, network_host, validate_branch, validate_git_url

_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")
_BRANCH_MISSING = re.compile(r"Remote branch .* not found", re.I)
_GENERIC = re.compile(r"Could not read from remote repository", re.I)
# Connection-level failures all read the same, so an error never tells an open port from a
# closed or filtered one.
_UNREACHABLE = re.compile(
    r"Failed to connect|Connection refused|timed out|No route to host|Network is unreachable"
    r"|Connection reset|Could not resolve|ssh: connect to host|Connection closed by",
    re.I,
)
ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "$BUTLER_GIT_USERNAME" ;;
  *) printf '%s\\n' "$BUTLER_GIT_TOKEN" ;;
esac
"""
# Network settings git needs to reach a host behind a proxy or a private CA. They describe how
# the Butler host reaches the network; they are not secrets of a project.
_PASSTHROUGH = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
)


class GitError(Exception):
    """Cloning failed. The message is safe to show: it never contains credentials."""


@dataclass(frozen=True)
class GitCredential:
    """How to get into a private repository: an access token (https) or a key (ssh)."""

    kind: str  # "token" | "ssh_key"
    secret: str = field(repr=False)
    username: str = ""

    def __repr__(self) -> str:
        return f"GitCredential(kind={self.kind!r}, username={self.username!r})"


@dataclass(frozen=True)
class CloneResult:
    commit_sha: str
    tree_sha: str
    branch: str
    size_bytes: int


def sanitize(text: str) -> str:
    """Strip `user:password@` (and `user@`) from any URL in `text`."""
    return _CREDENTIALS.sub(r"\1", text)


def clone(
    *,
    url: str,
    dest: Path,
    branch: str | None = None,
    timeout: int | None = None,
    max_bytes: int | None = None,
    on_output: Callable[[str], None] | None = None,
    cancel: CancelToken | None = None,
    credential: GitCredential | None = None,
) -> CloneResult:
    """Shallow-clone `url` (at `branch`, else the default branch) into `dest`.

    `dest` must not exist or be empty; on any failure it is removed. Defaults:
    `settings.BUTLER_CLONE_TIMEOUT` seconds and `settings.BUTLER_CLONE_MAX_MB` megabytes.
    Raises `GitError` with a message that says what went wrong, or `Cancelled`.
    """
    try:
        checked_url = validate_git_url(url)
        if branch is not None:
            validate_branch(branch)
        pin = _pinned_address(checked_url)
    except (GitSourceError, AddressRefused) as exc:
        raise GitError(str(exc)) from exc
    timeout = settings.BUTLER_CLONE_TIMEOUT if timeout is None else timeout
    if max_bytes is None:
        max_bytes = settings.BUTLER_CLONE_MAX_MB * 1024 * 1024
    dest = Path(dest).absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise GitError(f"The clone destination {dest} already exists and is not empty.")
    shown_url = sanitize(url)
    is_file = checked_url.startswith("file://")

    home = tempfile.mkdtemp(prefix="butler-git-home-")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        env = _git_env(home, allow_file=is_file, pin=pin, credential=credential)
        _run_clone(
            _clone_command(checked_url, dest, branch, allow_file=is_file, pin=pin),
            env=env,
            cwd=home,
            dest=dest,
            timeout=timeout,
            max_bytes=max_bytes,
            on_output=on_output,
            shown_url=shown_url,
            branch=branch,
            cancel=cancel,
        )
        return _read_result(dest, shown_url, env, home)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _pinned_address(url: str) -> tuple[str, int, str, str] | None:
    """(host, port, scheme, address): the host resolved and checked now, just before git
    connects, and the address git is then made to use (no second lookup to rebind)."""
    target = network_host(url)
    if target is None:
        return None
    host, port, scheme = target
    addresses = resolve(host, port)
    check_addresses(host, addresses)
    ipv4 = [a for a in addresses if ":" not in a]
    return host, port, scheme, (ipv4 or addresses)[0]


def _clone_command(
    url: str,
    dest: Path,
    branch: str | None,
    *,
    allow_file: bool,
    pin: tuple[str, int, str, str] | None = None,
) -> list[str]:
    pinning = []
    if pin is not None and pin[2] == "https":
        host, port, _scheme, address = pin
        shown = f"[{address}]" if ":" in address else address
        pinning = ["-c", f"http.curloptResolve={host}:{port}:{shown}"]
    cmd = [
        "git",
        *pinning,
        "-c", "credential.helper=",
        "-c", "core.hooksPath=/dev/null",
        "-c", "protocol.ext.allow=never",
        "-c", f"protocol.file.allow={'always' if allow_file else 'never'}",
        "-c", "submodule.recurse=false",
        "-c", "advice.detachedHead=false",
        "clone",
        "--depth", "1",
        "--single-branch",
        "--no-tags",
        "--no-recurse-submodules",
        "--progress",
    ]  # fmt: skip
    if branch:
        cmd += ["--branch", branch]
    return [*cmd, "--", url, str(dest)]


def _git_env(
    home: str,
    *,
    allow_file: bool,
    pin: tuple[str, int, str, str] | None = None,
    credential: GitCredential | None = None,
) -> dict[str, str]:
    """The whole environment git gets: nothing of Butler's but PATH and network settings, and
    the project's own credential when it has one."""
    askpass = shutil.which("true") or "/bin/true"  # answers every prompt with nothing
    ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new"]
    ssh += ["-o", f"UserKnownHostsFile={home}/known_hosts"]
    extra: dict[str, str] = {}
    if pin is not None and pin[2] == "ssh":
        ssh += ["-o", f"HostName={pin[3]}", "-o", f"HostKeyAlias={pin[0]}"]
    if credential is not None and credential.kind == "ssh_key":
        key = Path(home) / "deploy_key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(credential.secret.rstrip("\n") + "\n")
        ssh += ["-i", str(key), "-o", "IdentitiesOnly=yes"]
    elif credential is not None and credential.kind == "token":
        script = Path(home) / "askpass"
        script.write_text(ASKPASS)
        script.chmod(0o700)
        askpass = str(script)
        extra = {
            "BUTLER_GIT_USERNAME": credential.username or "x-access-token",
            "BUTLER_GIT_TOKEN": credential.secret,
        }
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": home,
        "LANG": "C",
        "LC_ALL": "C",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_ASKPASS": askpass,
        "SSH_ASKPASS": askpass,
        "GIT_SSH_COMMAND": " ".join(ssh),
        "GIT_ALLOW_PROTOCOL": "https:ssh:file" if allow_file else "https:ssh",
        **extra,
    }
    env.update({k: os.environ[k] for k in _PASSTHROUGH if os.environ.get(k)})
    return env


def _run_clone(
    cmd: list[str],
    *,
    env: dict[str, str],
    cwd: str,
    dest: Path,
    timeout: int,
    max_bytes: int,
    on_output: Callable[[str], None] | None,
    shown_url: str,
    branch: str | None,
    cancel: CancelToken | None,
) -> None:
    limit_mb = f"{max_bytes / (1024 * 1024):g} MB"
    too_big = (
        f"The repository is larger than the {limit_mb} limit; cloning was stopped. "
        "Raise BUTLER_CLONE_MAX_MB to allow bigger repositories."
    )
    try:
        result = run_streaming(
            cmd,
            cwd=cwd,
            env=env,
            timeout=timeout,
            on_line=on_output,
            transform=sanitize,
            cancel=cancel,
            watch=lambda: too_big if _dir_size(dest) > max_bytes else None,
            tail=50,
        )
    except ProcessStartError as exc:
        raise GitError(f"Could not run git: {exc.strerror or exc}. Is git installed?") from exc
    if result.cancelled:
        raise Cancelled(cancel.reason if cancel is not None else "Cancelled")
    if result.stopped_by_watch:
        raise GitError(result.stopped_by_watch)
    if result.timed_out:
        raise GitError(
            f"Cloning timed out after {timeout} s; it was stopped. Check that "
            f"{shown_url} is reachable, or raise BUTLER_CLONE_TIMEOUT."
        )
    if result.returncode != 0:
        if branch and any(_BRANCH_MISSING.search(line) for line in result.lines):
            raise GitError(f"Branch '{branch}' not found in {shown_url}")
        raise GitError(
            f"Repository not found or not reachable: {shown_url} ({_reason(result.lines)})"
        )
    if _dir_size(dest) > max_bytes:
        raise GitError(too_big)


def _reason(lines: list[str]) -> str:
    """git's own explanation: the most specific error line it printed (a connection failure,
    whatever its kind, as one plain phrase)."""
    if any(_UNREACHABLE.search(line) for line in lines):
        return "could not connect to the Git server"
    errors = [ln for ln in lines if ln.startswith(("fatal:", "error:", "ssh:"))]
    specific = [ln for ln in errors if not _GENERIC.search(ln)]
    if specific or errors:
        return (specific or errors)[0]
    return lines[-1] if lines else "git gave no reason"


def _dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # git renames and deletes as it goes
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _read_result(dest: Path, shown_url: str, env: dict[str, str], cwd: str) -> CloneResult:
    """Commit, tree and branch of the fresh clone (same clean environment as the clone)."""

    def git_out(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(dest), "-c", "core.hooksPath=/dev/null", *args],
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GitError(f"Cloned {shown_url}, but could not read its last commit.") from exc
        return (
            done.stdout.decode("ascii", errors="replace").strip() if done.returncode == 0 else None
        )

    shas = git_out("rev-parse", "HEAD^{commit}", "HEAD^{tree}")
    if not shas:
        raise GitError(f"The repository {shown_url} is empty: it has no commits.")
    commit_sha, tree_sha = shas.split()
    return CloneResult(
        commit_sha=commit_sha,
        tree_sha=tree_sha,
        branch=git_out("symbolic-ref", "-q", "--short", "HEAD") or "",
        size_bytes=_dir_size(dest),
    )

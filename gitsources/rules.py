"""Which Git URLs and branch names Butler accepts, checked before any git process is started.

URLs: ``https://host/path``, ``ssh://[user@]host[:port]/path``, ``user@host:path`` and, only
under ``settings.BUTLER_LOCAL_GIT_ROOTS``, local paths and ``file://`` URLs. Branches: what
`git check-ref-format --branch` accepts, minus the characters a shell or an option parser
would read specially.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings

MAX_URL_LENGTH = 2048
MAX_BRANCH_LENGTH = 255
_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"
_SCP_LIKE = re.compile(rf"^(?P<user>[A-Za-z0-9._-]+)@(?P<host>{_HOST}):(?P<path>[^\s]+)$")
_HOSTNAME = re.compile(rf"^{_HOST}$")
_TRANSPORT = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
# git check-ref-format: no "..", "@{", "//", no component starting with "." or ending with
# ".lock", no trailing "/" or "."; and here also no leading "-" (an option to git).
_BRANCH = re.compile(
    r"^(?!-)(?!/)(?!.*\.\.)(?!.*//)(?!.*@\{)(?!\.)(?!.*/\.)(?!.*\.lock(?:/|$))"
    r"[A-Za-z0-9._/+-]+(?<![./])$"
)


class GitSourceError(ValueError):
    """A URL or branch Butler refuses; the message says why and what is accepted."""


class GitUrlError(GitSourceError):
    pass


class BranchError(GitSourceError):
    pass


def validate_branch(branch: str) -> str:
    """The branch name if git and Butler accept it, else `BranchError` saying what is allowed."""
    if not isinstance(branch, str) or not branch:
        raise BranchError("A branch name is required.")
    if len(branch) > MAX_BRANCH_LENGTH or not _BRANCH.match(branch):
        raise BranchError(
            f"'{branch[:80]}' is not a valid branch name: use letters, digits and . _ / + - "
            "(not starting with '-' or '.', no '..', not ending with '.', '/' or '.lock')."
        )
    return branch


def validate_git_url(url: str) -> str:
    """Return the URL if Butler may clone it, else raise `GitUrlError` naming the problem.

    A local path comes back as an absolute ``file://`` URL (the form git clones shallowly).
    """
    if not isinstance(url, str) or not url:
        raise GitUrlError("A Git URL is required.")
    if len(url) > MAX_URL_LENGTH:
        raise GitUrlError(f"The Git URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() for ch in url):
        raise GitUrlError("The Git URL contains whitespace.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise GitUrlError("The Git URL contains control characters.")
    if url.startswith("-"):
        raise GitUrlError("The Git URL must not start with '-'.")
    if _TRANSPORT.match(url):
        transport = url.split("::", 1)[0]
        raise GitUrlError(f"The '{transport}::' transport is not allowed.")

    lowered = url.lower()
    if lowered.startswith("https://"):
        return _check_network_url(url, scheme="https")
    if lowered.startswith("ssh://"):
        return _check_network_url(url, scheme="ssh")
    if lowered.startswith("file://"):
        return _check_local_path(unquote(urlsplit(url).path))
    if "://" in url:
        scheme = url.split("://", 1)[0]
        hint = " Use https:// instead." if scheme.lower() in {"http", "git"} else ""
        raise GitUrlError(
            f"The URL scheme '{scheme}' is not supported.{hint} "
            "Accepted: https://, ssh:// or git@host:path."
        )
    match = _SCP_LIKE.match(url)
    if match:
        if match["path"].startswith("-"):
            raise GitUrlError("The repository path must not start with '-'.")
        if match["user"].startswith("-"):
            raise GitUrlError("The ssh user name must not start with '-'.")
        return url
    if url.startswith(("/", "./", "../", "~")) or os.sep in url:
        return _check_local_path(url)
    raise GitUrlError(
        "This is not a Git URL Butler accepts. Use https://host/owner/repo.git, "
        "ssh://host/owner/repo.git or git@host:owner/repo.git."
    )


CREDENTIALS_HINT = (
    "For a private repository, give Butler an access token for the project (it is stored "
    "encrypted and never put in a URL), or use an ssh URL with the project's deploy key."
)


def _check_network_url(url: str, *, scheme: str) -> str:
    parts = urlsplit(url)
    if parts.password or (scheme == "https" and parts.username):
        raise GitUrlError(
            "Credentials in the URL are not allowed: they would be stored and shown. "
            + CREDENTIALS_HINT
        )
    if parts.username and parts.username.startswith("-"):
        raise GitUrlError("The ssh user name must not start with '-'.")
    host = parts.hostname or ""
    if not (_HOSTNAME.match(host) or _is_ipv6(host)):
        raise GitUrlError(f"The Git URL has no valid host name: '{host or url}'.")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise GitUrlError("The Git URL has an invalid port.") from exc
    path = parts.path.strip("/")
    if not path:
        raise GitUrlError("The Git URL names no repository path (expected host/owner/repo).")
    if path.startswith("-"):
        raise GitUrlError("The repository path must not start with '-'.")
    return url


def _check_local_path(raw_path: str) -> str:
    roots = list(settings.BUTLER_LOCAL_GIT_ROOTS)
    if not roots:
        raise GitUrlError(
            "Local repositories are not allowed. Use a remote URL (https://, ssh:// or "
            "git@host:path), or list the folder in BUTLER_LOCAL_GIT_ROOTS."
        )
    path = Path(os.path.expanduser(raw_path)).resolve()
    if not any(path == Path(root) or Path(root) in path.parents for root in roots):
        raise GitUrlError(
            "This local path is outside the folders allowed by BUTLER_LOCAL_GIT_ROOTS."
        )
    if not path.exists():
        raise GitUrlError(f"The local repository does not exist: {path}")
    return path.as_uri()


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def network_host(url: str) -> tuple[str, int, str] | None:
    """(host, port, scheme) a validated network URL connects to; None for a local one."""
    match = _SCP_LIKE.match(url)
    if match and "://" not in url:
        return match["host"], 22, "ssh"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "ssh") or not parts.hostname:
        return None
    return parts.hostname, parts.port or (443 if scheme == "https" else 22), scheme


def repo_name_from_url(url: str) -> str:
    """`https://github.com/user/react-app.git` -> `react-app` (also ssh, scp-like, local)."""
    if url.startswith("split::"):
        url = url[len("split::") :].split("|", 1)[0]
    match = _SCP_LIKE.match(url)
    path = match["path"] if match else urlsplit(url).path if "://" in url else url
    name = unquote(path).rstrip("/").rsplit("/", 1)[-1]
    if name.endswith(".git"):
        name = name[:-4]
    return name or "app"

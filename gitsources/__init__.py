"""Git sources: which repositories Butler may clone, and cloning them. The only code that runs git.

    from gitsources import validate_git_url, validate_branch, clone, GitError

Rules (`rules.py`) are checked before any git process starts: the API answers a refused URL
or branch with a 400 that names the rule, and `clone` checks them again in the worker, so
the two can never disagree. Every app imports this package; it imports none of them.
"""

from core.addresses import AddressRefused, Unresolvable, check_addresses, resolve

from .cloning import CloneResult, GitCredential, GitError, clone, sanitize
from .rootdir import RootDirError, resolve_root_dir, validate_root_dir
from .rules import (
    MAX_URL_LENGTH,
    BranchError,
    GitSourceError,
    GitUrlError,
    network_host,
    repo_name_from_url,
    validate_branch,
    validate_git_url,
)


def check_git_source(url: str) -> str:
    """`validate_git_url`, then the host's addresses: what the API checks before it accepts a
    URL. A host that does not resolve now is let through (the clone says so when it runs);
    one that resolves to a refused address is a `GitUrlError` naming the rule."""
    checked = validate_git_url(url)
    target = network_host(checked)
    if target is not None:
        host, port, _scheme = target
        try:
            check_addresses(host, resolve(host, port))
        except Unresolvable:
            return checked
        except AddressRefused as exc:
            raise GitUrlError(str(exc)) from None
    return checked


__all__ = [
    "MAX_URL_LENGTH",
    "BranchError",
    "CloneResult",
    "GitCredential",
    "GitError",
    "GitSourceError",
    "GitUrlError",
    "RootDirError",
    "Unresolvable",
    "check_addresses",
    "check_git_source",
    "clone",
    "network_host",
    "repo_name_from_url",
    "resolve",
    "resolve_root_dir",
    "sanitize",
    "validate_branch",
    "validate_git_url",
    "validate_root_dir",
]

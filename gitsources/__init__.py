"""Git sources: which repositories Butler may clone, and cloning them. The only code that runs git.

    from gitsources import validate_git_url, validate_branch, clone, GitError

Rules (`rules.py`) are checked before any git process starts: the API answers a refused URL
or branch with a 400 that names the rule, and `clone` checks them again in the worker, so
the two can never disagree. Every app imports this package; it imports none of them.
"""

from .clone import CloneResult, GitError, clone, sanitize
from .rules import (
    MAX_URL_LENGTH,
    BranchError,
    GitSourceError,
    GitUrlError,
    repo_name_from_url,
    validate_branch,
    validate_git_url,
)

__all__ = [
    "MAX_URL_LENGTH",
    "BranchError",
    "CloneResult",
    "GitError",
    "GitSourceError",
    "GitUrlError",
    "clone",
    "repo_name_from_url",
    "sanitize",
    "validate_branch",
    "validate_git_url",
]

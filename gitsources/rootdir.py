"""`root_dir`: the folder of a repository to build (a monorepo's `frontend/`).

Two checks, because they happen at different times. `validate_root_dir` is pure and runs
when the API receives the value (a 400 with its message): no `..`, no absolute path, no
control characters, a sane length. `resolve_root_dir` runs on the clone: the folder must
exist and neither it nor any folder on the way may be a symlink leading out of the
repository (a symlink inside it is followed only if it stays inside).

Part of the Git sources seam (pure, no Django), so the API and the pipeline share one rule.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

MAX_LENGTH = 255
MAX_DEPTH = 10
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


class RootDirError(ValueError):
    """The root_dir cannot be used; the message says why and what to give instead."""


def validate_root_dir(value: str | None) -> str:
    """The normalised folder (`"./frontend/"` -> `"frontend"`, `""` for the repository root).

    Raises RootDirError for `..`, absolute paths, backslashes, control characters (NUL),
    more than 255 characters or 10 levels.
    """
    text = (value or "").strip()
    if len(text) > MAX_LENGTH:
        raise RootDirError(f"root_dir is longer than {MAX_LENGTH} characters.")
    if _BAD_CHARS.search(text):
        raise RootDirError(
            "root_dir contains a control character or a backslash: give a folder path with "
            "forward slashes, such as frontend or apps/web."
        )
    if text.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", text):
        raise RootDirError(
            "root_dir must be a folder inside the repository, relative to its top (such as "
            "frontend), not an absolute path."
        )
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise RootDirError("root_dir must stay inside the repository: '..' is not allowed.")
    if any(p == ".git" for p in parts):
        raise RootDirError("root_dir cannot be inside .git.")
    if len(parts) > MAX_DEPTH:
        raise RootDirError(f"root_dir is deeper than {MAX_DEPTH} folders.")
    return posixpath.join(*parts) if parts else ""


def resolve_root_dir(repo_dir: Path, root_dir: str) -> Path:
    """The folder to build inside the clone at `repo_dir` (`root_dir` already validated).

    Raises RootDirError when it does not exist, is not a folder, or it or a folder on the way
    is a symlink that leaves the repository.
    """
    repo = Path(repo_dir).resolve()
    folder = validate_root_dir(root_dir)
    if not folder:
        return repo
    current = repo
    for part in folder.split("/"):
        current = current / part
        if current.is_symlink():
            target = current.resolve()
            if not target.is_relative_to(repo):
                raise RootDirError(
                    f"root_dir '{folder}' passes through the symlink "
                    f"'{current.relative_to(repo)}', which leads outside the repository."
                )
            current = target
    if not current.exists():
        raise RootDirError(
            f"root_dir '{folder}' does not exist in the repository (at this branch's commit)."
        )
    if not current.is_dir():
        raise RootDirError(f"root_dir '{folder}' is a file, not a folder.")
    return current

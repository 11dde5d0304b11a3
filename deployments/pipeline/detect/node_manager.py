"""Which Node package manager a repo uses, and which release of it: `packageManager` in
package.json first, then the lock file (npm, yarn 1, Yarn Berry, pnpm)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .repo import Repo
from .versions import version_parts


@dataclass
class NodeManager:
    name: str  # npm | yarn | pnpm
    lock: str | None
    version: str | None  # pnpm version / Yarn Berry version to install
    label: str

    @property
    def berry(self) -> bool:
        return self.name == "yarn" and self.version is not None


_LOCKS = (
    ("pnpm", "pnpm-lock.yaml"),
    ("yarn", "yarn.lock"),
    ("npm", "package-lock.json"),
    ("npm", "npm-shrinkwrap.json"),
)


def node_manager(repo: Repo, pkg: dict) -> NodeManager:
    locks = [(name, lock) for name, lock in _LOCKS if repo.is_file(lock)]
    declared = str(pkg.get("packageManager") or "")
    match = re.match(r"^(npm|yarn|pnpm)@([\w.-]+)", declared)  # "+sha512..." is left out
    if match:
        name, declared_version = match.group(1), match.group(2)
        lock = next((lk for n, lk in locks if n == name), None)
    elif locks:
        (name, lock), declared_version = locks[0], None
        if len(locks) > 1:
            repo.notes.append(
                f"Several lock files ({', '.join(lk for _, lk in locks)}): using {lock}"
            )
    else:
        name, lock, declared_version = "npm", None, None
    version = None
    if name == "pnpm":
        version = declared_version or pnpm_for_lock(repo.read("pnpm-lock.yaml", 4096) or "")
    elif name == "yarn":
        head = repo.read("yarn.lock", 4096) or ""
        major = version_parts(declared_version or "")
        if "__metadata:" in head or (major and major[0] >= 2):
            version = declared_version or berry_for_lock(head)
            repo.notes.append(
                f"Yarn Berry ({version}): installed from npm (the images ship yarn 1)"
            )
    if lock is None:
        repo.notes.append(
            f"No lock file: using {name} install (commit a lock file for reproducible builds)"
        )
    label = f"{name} ({lock})" if lock else f"{name} (no lock file)"
    return NodeManager(name, lock, version, label)


def pnpm_for_lock(head: str) -> str:
    match = re.search(r"lockfileVersion:\s*['\"]?(\d+)(?:\.(\d+))?", head)
    if not match:
        return "latest"
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    if major >= 9:
        return "9"
    if major >= 6:
        return "8"
    return "7" if (major, minor) >= (5, 4) else "6"


def berry_for_lock(head: str) -> str:
    """The Yarn release line that writes this lock format (`__metadata: version: 8` is 4.x):
    a newer one would rewrite the lock, which `--immutable` refuses."""
    match = re.search(r"__metadata:\s*\n\s*version:\s*(\d+)", head)
    if not match:
        return "latest"
    version = int(match.group(1))
    if version >= 8:
        return "4"
    if version >= 5:
        return "3"
    return "2"

"""Reading the repo safely: symlinks must not lead outside it, reads and scans are bounded."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

from django.conf import settings

MAX_READ = 1_000_000
MAX_SCAN_FILES = 3000
# fmt: off
SKIP_DIRS = frozenset({
    "node_modules", "__pycache__", "venv", "env", "site-packages", "dist", "build", "out",
    "coverage", "htmlcov", "migrations", "tests", "test", "docs", "static", "staticfiles",
    "vendor", "bower_components", "target",
})
# fmt: on


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        budget = float(getattr(settings, "BUTLER_DETECT_TIME_BUDGET", 20.0))
        self.deadline = time.monotonic() + budget
        self.notes: list[str] = []
        self.hints: list[str] = []
        self._walk_cache: list[str] | None = None
        self.toml_cache: dict[str, dict | None] = {}
        self.memo: dict[str, object] = {}  # per-detection results shared by the detectors

    def another_reader(self) -> Repo:
        """A reader of the same folder with notes of its own, sharing the file listing: for
        trying another kind of app without mixing its notes into this plan."""
        other = Repo(self.root)
        other._walk_cache = self._walk_cache
        return other

    def _resolve(self, rel: str) -> Path | None:
        try:
            path = (self.root / rel).resolve()
        except (OSError, RuntimeError):
            return None
        if path.is_relative_to(self.root):
            return path
        hint = f"'{rel}' is a symlink leading outside the repository: Butler ignored it."
        if (self.root / rel).is_symlink() and hint not in self.hints:
            self.hints.append(hint)
        return None

    def is_file(self, rel: str) -> bool:
        path = self._resolve(rel)
        return path is not None and path.is_file()

    def is_dir(self, rel: str) -> bool:
        path = self._resolve(rel)
        return path is not None and path.is_dir()

    def read(self, rel: str, limit: int = MAX_READ) -> str | None:
        path = self._resolve(rel)
        if path is None or not path.is_file():
            return None
        try:
            with path.open("rb") as fh:
                return fh.read(limit).decode("utf-8", errors="replace")
        except OSError:
            return None

    def first(self, *names: str) -> str | None:
        return next((n for n in names if self.is_file(n)), None)

    def walk(self) -> list[str]:
        """Repo-relative files up to 3 directories deep, shallow first, within the time budget."""
        if self._walk_cache is not None:
            return self._walk_cache
        found: list[str] = []
        queue: list[tuple[Path, int]] = [(self.root, 0)]
        while queue and len(found) < MAX_SCAN_FILES:
            if time.monotonic() > self.deadline:
                self.notes.append("Detection time budget reached: some files were not scanned")
                break
            folder, depth = queue.pop(0)
            try:
                entries = sorted(folder.iterdir(), key=lambda p: p.name)
            except OSError:
                continue
            for entry in entries:
                if entry.is_symlink():
                    continue
                if entry.is_dir():
                    if depth < 3 and entry.name not in SKIP_DIRS and not entry.name.startswith("."):
                        queue.append((entry, depth + 1))
                elif entry.is_file():
                    found.append(entry.relative_to(self.root).as_posix())
        self._walk_cache = found
        return found


def read_toml(repo: Repo, rel: str) -> dict | None:
    if rel not in repo.toml_cache:
        text = repo.read(rel)
        data = None
        if text is not None:
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                repo.notes.append(f"{rel} is not valid TOML ({exc}); ignored")
        repo.toml_cache[rel] = data
    return repo.toml_cache[rel]

"""Start commands and ports, shared by the Node and Python detectors: the Procfile, a fixed
port in a command or in the app's source, the tool a command runs."""

from __future__ import annotations

import re

from .repo import _Repo


def _procfile(repo: _Repo) -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in (repo.read("Procfile") or "").splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+)\s*:\s*(.+)$", line.strip())
        if match and not line.lstrip().startswith("#"):
            entries.setdefault(match.group(1), match.group(2).strip())
    return entries


def _procfile_command(repo: _Repo, procs: dict[str, str]) -> str | None:
    web = procs.get("web")
    if not web:
        return None
    repo.notes.append(f"Procfile web: {web} (respected)")
    if "PORT" not in web and not web.startswith("gunicorn"):
        repo.notes.append("The Procfile web command does not mention $PORT: it must bind 0.0.0.0")
    release = procs.get("release")
    if release:
        repo.notes.append(f"Procfile release: {release} (runs before each start)")
        return f"{release} && exec {web}"
    return web


def _command_port(command: str | None) -> int | None:
    """A fixed port in a start command (`--bind 0.0.0.0:5000`, `-p 4000`), not `$PORT`."""
    if not command:
        return None
    match = re.search(r"(?:--bind|-b|--listen)[= ]\S*?:(\d{2,5})\b", command) or re.search(
        r"(?:--port|-p)[= ](\d{2,5})\b", command
    )
    return int(match.group(1)) if match else None


def _hardcoded_port(source: str | None) -> int | None:
    """A port literal in an app that never reads PORT from its environment."""
    reads_port = r"(?:environ|getenv|process\.env)(?:\.get)?\s*[\[(.]?\s*['\"]?PORT\b"
    if not source or re.search(reads_port, source):
        return None
    match = (
        re.search(r"\.listen\(\s*(\d{2,5})\b", source)
        or re.search(r"\(\s*['\"][\w.:]*['\"]\s*,\s*(\d{2,5})\s*\)", source)
        or re.search(r"\bport\s*=\s*(\d{2,5})\b", source)
    )
    return int(match.group(1)) if match else None


def _first_tool(command: str) -> str:
    words = [w for w in command.split() if "=" not in w or w.startswith("-")]
    words = [w for w in words if w not in ("cross-env", "npx", "exec", "env")]
    return words[0] if words else ""

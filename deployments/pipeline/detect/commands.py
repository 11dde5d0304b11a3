"""Start commands and ports, shared by the Node and Python detectors: the declared start
command, a fixed port in a command or in the app's source, the tool a command runs."""

from __future__ import annotations

import re

from .declared import PlatformConfig
from .repo import Repo


def start_command(repo: Repo, cfg: PlatformConfig) -> str | None:
    """The start command the repo declares (Procfile, Railway, Render), with its release
    step; notes say where it came from."""
    start = cfg.start
    if start is None:
        return None
    repo.notes.append(f"{start.source}: {start.command} (respected)")
    if "PORT" not in start.command and not start.command.startswith(
        ("gunicorn", "python -m gunicorn")
    ):
        repo.notes.append(
            f"The {start.source} command does not mention $PORT: it must listen on 0.0.0.0 "
            "and the port Butler gives it in PORT"
        )
    if cfg.release:
        repo.notes.append(f"{cfg.release.source}: {cfg.release.command} (runs before each start)")
        return f"{cfg.release.command} && exec {start.command}"
    return start.command


def command_port(command: str | None) -> int | None:
    """A fixed port in a start command (`--bind 0.0.0.0:5000`, `-p 4000`), not `$PORT`."""
    if not command:
        return None
    match = re.search(r"(?:--bind|-b|--listen)[= ]\S*?:(\d{2,5})\b", command) or re.search(
        r"(?:--port|-p)[= ](\d{2,5})\b", command
    )
    return int(match.group(1)) if match else None


def hardcoded_port(source: str | None) -> int | None:
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


def first_tool(command: str) -> str:
    """The program a command runs: `gunicorn` for `PORT=1 exec gunicorn app:app` and for
    `python -m gunicorn app:app`."""
    words = [w for w in command.split() if "=" not in w or w.startswith("-")]
    words = [w for w in words if w not in ("cross-env", "npx", "exec", "env")]
    if len(words) >= 3 and re.match(r"^python[\d.]*$", words[0]) and words[1] == "-m":
        return words[2]
    return words[0] if words else ""

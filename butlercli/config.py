"""Where the CLI keeps its logins: `$XDG_CONFIG_HOME/butler/config.json` (default
`~/.config/butler/`), the folder 0700 and the file 0600, always written atomically.

Tokens are kept per server, so a token is only ever sent to the Butler that issued it (a
`--url` or `BUTLER_URL` naming another server finds no login there rather than leaking one).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "butler"


def config_path() -> Path:
    return config_dir() / "config.json"


def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    return url


class Config:
    """`{"current": URL, "servers": {URL: {username, access_token, refresh_token, expires_at}}}`"""

    def __init__(self, data: dict | None = None):
        data = data if isinstance(data, dict) else {}
        self.current: str | None = data.get("current") or None
        servers = data.get("servers")
        self.servers: dict[str, dict] = servers if isinstance(servers, dict) else {}

    @classmethod
    def load(cls) -> Config:
        path = config_path()
        try:
            return cls(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError):
            return cls()  # an unreadable file is as good as none: `butler login` rewrites it

    def session(self, url: str) -> dict | None:
        entry = self.servers.get(url)
        return entry if isinstance(entry, dict) and entry.get("refresh_token") else None

    def set_session(self, url: str, entry: dict) -> None:
        self.servers[url] = entry
        self.current = url

    def forget(self, url: str) -> None:
        self.servers.pop(url, None)
        if self.current == url:
            self.current = next(iter(self.servers), None)

    def save(self) -> None:
        folder = config_dir()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)
        body = json.dumps({"current": self.current, "servers": self.servers}, indent=2)
        fd, tmp = tempfile.mkstemp(prefix=".config-", dir=folder)  # mkstemp makes it 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(body + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, config_path())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


@contextlib.contextmanager
def config_lock():
    """Held while a login's tokens are refreshed, so two `butler`s at once (a `logs -f` and a
    `deploy`) do not both spend the same refresh token (the second would be refused)."""
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        import fcntl
    except ImportError:  # not on a POSIX system: no lock, the reload below still helps
        yield
        return
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def server_url(option: str | None, config: Config) -> str:
    """`--url`, else `BUTLER_URL`, else the server of the last login, else the default."""
    for candidate in (option, os.environ.get("BUTLER_URL"), config.current):
        if candidate and candidate.strip():
            return normalize_url(candidate)
    return DEFAULT_URL

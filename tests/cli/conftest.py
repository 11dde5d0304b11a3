"""The `butler` CLI run as a user runs it: a subprocess (`python -m butlercli`) with its own
HOME and config dir, against one real Butler (`runbutler`: Caddy, web, worker) shared by the
whole session. Each test registers its own user."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.live_butler import RealButler, remove_everything

PASSWORD = "a-long-passphrase"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cli_butler(tmp_path_factory):
    real = RealButler(tmp_path_factory.mktemp("cli-butler"))
    try:
        real.start()
        yield real
    finally:
        remove_everything(real)


def clean_env(home: Path, base: str) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BUTLER_", "DJANGO_", "XDG_")) and k not in ("NO_COLOR", "COLUMNS")
    }
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), BUTLER_URL=base)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@dataclass
class Cli:
    """`cli("ls", "--json")` runs `python -m butlercli ls --json` as this user."""

    base: str
    home: Path
    username: str = ""
    repos: Path | None = None
    extra_env: dict = field(default_factory=dict)

    @property
    def env(self) -> dict:
        return {**clean_env(self.home, self.base), **self.extra_env}

    @property
    def config_file(self) -> Path:
        return self.home / ".config" / "butler" / "config.json"

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "butlercli", *args]

    def __call__(self, *args: str, input: str | None = None, timeout: float = 240) -> Result:
        done = subprocess.run(
            self.argv(*args),
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str, input: str | None = None, timeout: float = 240) -> Result:
        result = self(*args, input=input, timeout=timeout)
        assert result.code == 0, (
            f"butler {' '.join(args)}: {result.code}\n{result.out}\n{result.err}"
        )
        return result

    def saved(self) -> dict:
        return json.loads(self.config_file.read_text())["servers"][self.base]


def register(base: str, prefix: str = "cli") -> str:
    name = f"{prefix}{secrets.token_hex(3)}"
    user = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    assert requests.post(f"{base}/api/auth/register", json=user, timeout=10).status_code == 201
    return name


@pytest.fixture
def anonymous(cli_butler, tmp_path) -> Cli:
    """A user's terminal before `butler login` (the account exists)."""
    home = tmp_path / "home"
    home.mkdir()
    return Cli(cli_butler.base, home, register(cli_butler.base), cli_butler.repos)


@pytest.fixture
def cli(anonymous) -> Cli:
    """A logged-in user's terminal."""
    anonymous.ok(
        "login", "--username", anonymous.username, "--password-stdin", input=PASSWORD + "\n"
    )
    return anonymous


def api_headers(cli: Cli) -> dict:
    return {"Authorization": f"Bearer {cli.saved()['access_token']}"}

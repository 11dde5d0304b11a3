"""A real Butler as a user runs it (`manage.py runbutler`: Caddy, web, worker) on free ports,
with its own data dir and Docker instance label: for system, browser and CLI tests."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time

import psutil
import requests
from django.conf import settings

from tests.docker_fixtures import docker_cli, free_port_block, remove_instance_objects


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError("timed out")


class RealButler:
    """`manage.py runbutler` on free ports (its Caddy's too), its own data dir and label."""

    def __init__(self, tmp_path, *, repos=None, env: dict[str, str] | None = None):
        self.port = free_port()
        self.instance = "sys" + secrets.token_hex(4)
        self.repos = repos or tmp_path / "repos"  # the folder it may clone local repos from
        self.repos.mkdir(parents=True, exist_ok=True)
        self.base = f"http://127.0.0.1:{self.port}"
        self.http_port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("BUTLER_", "DJANGO_"))},
            "DJANGO_SETTINGS_MODULE": "butler_site.settings",
            "BUTLER_DATA_DIR": str(tmp_path / "data"),
            "BUTLER_LOCAL_GIT_ROOTS": str(self.repos),
            "BUTLER_INSTANCE_ID": self.instance,
            "BUTLER_COMPOSE_PREFIX": self.instance,
            "BUTLER_HTTP_PORT": str(self.http_port),
            "BUTLER_HTTPS_PORT": str(free_port()),
            "BUTLER_PROXY_PORTS": free_port_block(10),
            "BUTLER_RETIRE_SECONDS": "3",
            **(env or {}),
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"],
            cwd=settings.BASE_DIR,
            env=self.env,
            check=True,
        )
        self.process: subprocess.Popen | None = None
        self.output = tmp_path / "butler.log"  # what web and worker print (daphne's access log)

    def start(self) -> None:
        with self.output.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "runbutler", "--port", str(self.port)],
                cwd=settings.BASE_DIR,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        wait_until(lambda: _answers(f"{self.base}/health"), timeout=60)

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        children = (
            psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []
        )
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        psutil.wait_procs(children, timeout=30)
        self.process = None

    def __getitem__(self, key):  # the tests below read it like the dict it used to be
        return {
            "base": self.base,
            "repos": self.repos,
            "process": self.process,
            "instance": self.instance,
            "output": self.output,
        }[key]

    @property
    def caddy(self) -> psutil.Process:
        [caddy] = [p for p in psutil.Process(self.process.pid).children() if p.name() == "caddy"]
        return caddy

    def login(self, name: str) -> dict:
        user = {"username": name, "email": f"{name}@example.com", "password": "a-long-passphrase"}
        requests.post(f"{self.base}/api/auth/register", json=user, timeout=10)
        token = requests.post(f"{self.base}/api/auth/login", json=user, timeout=10).json()
        return {"Authorization": f"Bearer {token['access_token']}"}

    def finished(self, auth: dict, deployment_id: int, timeout: float = 180) -> dict:
        def done():
            body = requests.get(
                f"{self.base}/api/deployments/{deployment_id}", headers=auth, timeout=10
            ).json()
            return body if body["status"] in ("running", "failed", "cancelled") else None

        return wait_until(done, timeout=timeout)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.RequestException:
        return False


def remove_everything(real: RealButler) -> None:
    """Stop it and remove every Docker object its instance label names."""
    real.stop()
    remove_instance_objects(real.instance)
    networks = docker_cli(
        "network", "ls", "-q", "--filter", f"label=butler.instance={real.instance}"
    ).split()
    if networks:
        docker_cli("network", "rm", *networks)

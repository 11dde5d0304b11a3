"""Butler as a user runs it: `manage.py runbutler` (daphne + worker) and the HTTP API alone."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
import requests
from django.conf import settings

from tests import samples
from tests.docker_fixtures import docker_cli, remove_instance_objects

pytestmark = pytest.mark.docker


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


@pytest.fixture
def butler(tmp_path):
    """A real Butler on a free port, its own data dir and Docker instance label."""
    port = free_port()
    instance = "sys" + secrets.token_hex(4)
    (tmp_path / "repos").mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BUTLER_", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "butler_site.settings",
        "BUTLER_DATA_DIR": str(tmp_path / "data"),
        "BUTLER_LOCAL_GIT_ROOTS": str(tmp_path / "repos"),
        "BUTLER_INSTANCE_ID": instance,
        "BUTLER_COMPOSE_PREFIX": instance,
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=settings.BASE_DIR, env=env, check=True
    )
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runbutler", "--port", str(port)],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{base}/health"), timeout=60)
        yield {"base": base, "repos": tmp_path / "repos", "process": process, "instance": instance}
    finally:
        children = (
            psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []
        )
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        psutil.wait_procs(children, timeout=30)
        remove_instance_objects(instance)
        docker_cli(
            "network",
            "rm",
            *docker_cli(
                "network", "ls", "-q", "--filter", f"label=butler.instance={instance}"
            ).split(),
        )


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.RequestException:
        return False


def test_a_new_user_deploys_a_site_with_curl_alone_and_deletes_it(butler):
    base = butler["base"]
    user = {"username": "newbie", "email": "newbie@example.com", "password": "a-long-passphrase"}
    assert requests.post(f"{base}/api/auth/register", json=user, timeout=10).status_code == 201
    token = requests.post(f"{base}/api/auth/login", json=user, timeout=10).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    repo = samples.static_repo(butler["repos"] / "site")

    queued = requests.post(f"{base}/deploy", data={"git_url": str(repo)}, headers=auth, timeout=10)
    assert queued.status_code == 202
    deployment_id = queued.json()["deployment_id"]

    def finished():
        body = requests.get(
            f"{base}/api/deployments/{deployment_id}", headers=auth, timeout=10
        ).json()
        return body if body["status"] in ("running", "failed") else None

    deployment = wait_until(finished, timeout=180)
    assert deployment["status"] == "running", deployment["error"]
    assert samples.STATIC_MARKER in requests.get(deployment["deployed_url"], timeout=10).text
    listed = requests.get(f"{base}/deployments", headers=auth, timeout=10).json()
    assert [p["status"] for p in listed] == ["running"]

    deleted = requests.delete(
        f"{base}/projects/{deployment['project_id']}", headers=auth, timeout=30
    )
    assert deleted.status_code == 200
    filters = (
        *("--filter", f"label=butler.project={deployment['project_id']}"),
        *("--filter", f"label=butler.instance={butler['instance']}"),
    )
    assert docker_cli("ps", "-aq", *filters).split() == []
    assert docker_cli("images", "-q", *filters).split() == []
    assert not _answers(deployment["deployed_url"])


def test_stopping_butler_stops_web_and_worker(butler):
    process = butler["process"]
    children = psutil.Process(process.pid).children(recursive=True)
    commands = [" ".join(child.cmdline()) for child in children]
    assert any("daphne" in command for command in commands)
    assert any("qcluster" in command for command in commands)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    _gone, alive = psutil.wait_procs(children, timeout=30)
    assert alive == []

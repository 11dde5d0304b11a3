"""Hostile repositories and neighbours, on the real engine: the host is untouched, the
neighbour unreachable, the secret nowhere but in the app."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import threading

import pytest
from django.conf import settings

from deployments.runtime import get_runtime
from tests import samples
from tests.deployments.test_pipeline_docker import (
    assert_nothing_left,
    assert_running,
    deploy,
    detail,
    log_text,
)
from tests.docker_fixtures import docker_cli, docker_inspect

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.hits.append(self.path)
        body = b"host-only-secret"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def host_service():
    """An HTTP service on this host (all its addresses), recording every request."""
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), _Recorder)
    server.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def firewall(runtime):
    if os.geteuid() != 0:
        pytest.skip("the host firewall needs root (CI runs as root)")
    problem = get_runtime().ensure_isolation()
    assert problem is None, problem
    return True


def host_addresses() -> list[str]:
    """Every IPv4 address of this host a container could try (bridges included)."""
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    return sorted({line.split()[3].split("/")[0] for line in out.splitlines()} - {"127.0.0.1"})


# ---- 1. a repository writes or reads files on the host through symlinks ----------------------


def test_symlinked_generated_names_change_and_read_nothing_on_the_host(
    alice_client, repos, tmp_path
):
    """What Butler writes for a build never lands in the clone: a link there points nowhere."""
    victim = tmp_path / "host-file"
    victim.write_text("original host content\n")
    secret = tmp_path / "host-secret.env"
    secret.write_text("STOLEN=host-secret-value\n")
    dangling = tmp_path / "created-by-a-dangling-link"
    repo = samples.procfile_repo(repos / "evil")
    for name, target in [
        ("Dockerfile.butler", victim),
        ("docker-compose.butler.yml", dangling),
        (".env", secret),
    ]:
        (repo / name).symlink_to(target)
    samples._commit(repo, "symlinks to the host")
    body = deploy(alice_client, git_url=str(repo))
    deployment = assert_running(alice_client, body["deployment_id"], samples.PROCFILE_MARKER)
    assert victim.read_text() == "original host content\n"
    assert not dangling.exists()
    env = docker_inspect(deployment["container_name"])["Config"]["Env"]
    assert not any("host-secret-value" in item for item in env)
    alice_client.delete(f"/projects/{body['project_id']}")
    assert_nothing_left(body["project_id"])


def test_a_symlinked_dockerignore_leading_out_is_refused_not_read(alice_client, repos, tmp_path):
    outside = tmp_path / "host-ignore"
    outside.write_text("host-only-pattern\n")
    repo = samples.procfile_repo(repos / "evil-ignore")
    (repo / ".dockerignore").symlink_to(outside)
    samples._commit(repo, "a .dockerignore pointing at the host")
    body = deploy(alice_client, git_url=str(repo))
    failed = detail(alice_client, body["deployment_id"])
    assert failed["status"] == "failed"
    assert "'.dockerignore' is a symlink" in failed["error"] and "outside" in failed["error"]
    assert "host-only-pattern" not in log_text(alice_client, body["deployment_id"])
    assert_nothing_left(body["project_id"])


def test_a_symlinked_env_file_of_a_compose_repo_is_refused(alice_client, repos, tmp_path):
    secret = tmp_path / "host-secret.env"
    secret.write_text("SECRET=host-secret-value\n")
    repo = samples.compose_repo(repos / "compose-evil")
    (repo / ".env").symlink_to(secret)
    samples._commit(repo, "a .env pointing at the host")
    body = deploy(alice_client, git_url=str(repo))
    failed = detail(alice_client, body["deployment_id"])
    assert failed["status"] == "failed"
    assert "'.env' is a symlink" in failed["error"]
    assert "host-secret-value" not in log_text(alice_client, body["deployment_id"])
    assert_nothing_left(body["project_id"])


def test_a_symlinked_dockerfile_is_refused_not_read(alice_client, repos, tmp_path):
    host_dockerfile = tmp_path / "Dockerfile"
    host_dockerfile.write_text("FROM python:3.11-slim\nRUN echo from-the-host\n")
    repo = samples.git_repo(repos / "df-link", {"README.md": "x\n"})
    (repo / "Dockerfile").symlink_to(host_dockerfile)
    samples._commit(repo, "Dockerfile is a link")
    body = deploy(alice_client, git_url=str(repo))
    failed = detail(alice_client, body["deployment_id"])
    assert failed["status"] == "failed"
    assert "'Dockerfile' is a symlink leading outside the repository" in failed["error"]
    assert "from-the-host" not in log_text(alice_client, body["deployment_id"])


# ---- 2. builds reach the host ---------------------------------------------------------------


def test_add_from_the_hosts_loopback_is_refused_before_any_request(
    alice_client, repos, host_service
):
    port = host_service.server_address[1]
    repo = samples.git_repo(
        repos / "add-loopback",
        {"Dockerfile": f"FROM python:3.11-slim\nADD http://127.0.0.1:{port}/secret /secret\n"},
    )
    body = deploy(alice_client, git_url=str(repo))
    failed = detail(alice_client, body["deployment_id"])
    assert failed["status"] == "failed"
    assert "resolves to 127.0.0.1, a loopback address" in failed["error"]
    assert host_service.hits == []
    assert_nothing_left(body["project_id"])


def test_build_steps_cannot_reach_the_host_but_reach_the_registries(
    alice_client, repos, host_service, firewall
):
    port = host_service.server_address[1]
    targets = json.dumps([[a, port] for a in host_addresses()])
    probe = (
        "import json, socket, sys\n"
        f"reached = []\nfor host, port in json.loads({targets!r}):\n"
        "    try:\n        socket.create_connection((host, port), timeout=3).close()\n"
        "        reached.append(host)\n    except OSError:\n        pass\n"
        "gateway = open('/proc/net/route').read().split()[13]\n"
        "print('reached:', reached)\nsys.exit(1 if reached else 0)\n"
    )
    repo = samples.git_repo(
        repos / "build-probe",
        {
            "probe.py": probe,
            "Dockerfile": (
                "FROM python:3.11-slim\nCOPY probe.py /probe.py\nRUN python /probe.py\n"
                "RUN pip download --no-deps -q -d /tmp/dl six==1.16.0\n"
                'CMD ["python", "-m", "http.server", "8000"]\nEXPOSE 8000\n'
            ),
        },
    )
    body = deploy(alice_client, git_url=str(repo))
    deployment = detail(alice_client, body["deployment_id"])
    assert deployment["status"] == "running", log_text(alice_client, body["deployment_id"])
    assert "reached: []" in log_text(alice_client, body["deployment_id"])
    assert host_service.hits == []
    alice_client.delete(f"/projects/{body['project_id']}")


# ---- 3. tenants reach each other ------------------------------------------------------------


def test_an_app_cannot_reach_another_projects_unpublished_service_or_the_host(
    alice_client, bob_client, repos, host_service, firewall
):
    theirs = samples.compose_repo(repos / "bobs-stack")
    bob = deploy(bob_client, git_url=str(theirs))
    assert detail(bob_client, bob["deployment_id"])["status"] == "running"
    redis = next(
        c
        for c in docker_cli(
            "ps", "-q", "--filter", f"label=butler.instance={settings.BUTLER_INSTANCE_ID}",
            "--filter", "label=com.docker.compose.service=redis",
        ).split()
    )  # fmt: skip
    redis_ip = next(
        n["IPAddress"] for n in docker_inspect(redis)["NetworkSettings"]["Networks"].values()
    )
    mine = samples.env_page_repo(repos / "alices-app", marker="alice")
    alice = deploy(alice_client, git_url=str(mine))
    container = assert_running(alice_client, alice["deployment_id"], "alice")["container_name"]
    port = host_service.server_address[1]
    targets = [[redis_ip, 6379], *([a, port] for a in host_addresses())]
    script = (
        "import json, socket\nreached = []\n"
        f"for host, port in json.loads({json.dumps(targets)!r}):\n"
        "    try:\n        socket.create_connection((host, port), timeout=3).close()\n"
        "        reached.append(host)\n    except OSError:\n        pass\nprint(reached)\n"
    )
    out = subprocess.run(
        ["docker", "exec", container, "python", "-c", script],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
    assert host_service.hits == []
    # The stack's own services still find each other.
    web = docker_cli(
        "ps", "-q", "--filter", f"label=butler.instance={settings.BUTLER_INSTANCE_ID}",
        "--filter", "label=com.docker.compose.service=web",
    ).split()[0]  # fmt: skip
    check = "import socket; socket.create_connection(('redis', 6379), timeout=3); print('ok')"
    inside = subprocess.run(
        ["docker", "exec", web, "python", "-c", check], capture_output=True, text=True, timeout=60
    )
    assert inside.stdout.strip() == "ok", inside.stderr


# ---- 4. compose containers get the limits single containers get ------------------------------


def test_compose_containers_are_hardened_and_named_with_the_instance(alice_client, repos):
    repo = samples.compose_repo(repos / "stack")
    body = deploy(alice_client, git_url=str(repo))
    assert detail(alice_client, body["deployment_id"])["status"] == "running"
    ids = docker_cli(
        "ps", "-q", "--filter", f"label=butler.project={body['project_id']}",
        "--filter", f"label=butler.instance={settings.BUTLER_INSTANCE_ID}",
    ).split()  # fmt: skip
    assert len(ids) == 2
    for cid in ids:
        info = docker_inspect(cid)
        host = info["HostConfig"]
        assert host["CapDrop"] == ["ALL"] and "SYS_ADMIN" not in (host["CapAdd"] or [])
        assert any(o.startswith("no-new-privileges") for o in host["SecurityOpt"])
        assert host["Memory"] > 0 and host["NanoCpus"] > 0 and host["PidsLimit"] == 1024
        assert host["LogConfig"]["Config"]["max-size"] == settings.BUTLER_CONTAINER_LOG_MAX_SIZE
        project = info["Config"]["Labels"]["com.docker.compose.project"]
        assert settings.BUTLER_INSTANCE_ID.lower() in project
        for network in info["NetworkSettings"]["Networks"]:
            assert network.startswith(project)  # its own stack network, nothing shared
    alice_client.delete(f"/projects/{body['project_id']}")
    assert_nothing_left(body["project_id"])


def test_single_containers_have_capped_logs_and_names_with_the_instance(alice_client, repos):
    repo = samples.env_page_repo(repos / "named", marker="named")
    body = deploy(alice_client, git_url=str(repo))
    deployment = assert_running(alice_client, body["deployment_id"], "named")
    info = docker_inspect(deployment["container_name"])
    assert settings.BUTLER_INSTANCE_ID.lower() in deployment["container_name"]
    assert info["HostConfig"]["LogConfig"] == {
        "Type": "json-file",
        "Config": {
            "max-size": settings.BUTLER_CONTAINER_LOG_MAX_SIZE,
            "max-file": str(settings.BUTLER_CONTAINER_LOG_MAX_FILES),
        },
    }
    [network] = info["NetworkSettings"]["Networks"]
    assert settings.BUTLER_INSTANCE_ID in network and network.endswith(f"-p{body['project_id']}")
    assert docker_inspect(network)["Options"]["com.docker.network.bridge.name"].startswith("butler")
    assert settings.BUTLER_INSTANCE_ID.lower() in deployment["image_tag"].split("/")[0]
    alice_client.delete(f"/projects/{body['project_id']}")
    assert_nothing_left(body["project_id"])


def test_a_hostname_listening_only_on_a_port_says_nothing_about_the_port(alice_client):
    """Git URLs: an internal target is refused before any connection, open or closed alike."""
    with socket.socket() as open_sock:
        open_sock.bind(("127.0.0.1", 0))
        open_sock.listen()
        answers = []
        for port in (open_sock.getsockname()[1], 1):
            response = alice_client.post(
                "/api/import", {"git_url": f"ssh://git@127.0.0.1:{port}/x/y.git"}, format="json"
            )
            assert response.status_code == 400
            answers.append(response.json()["detail"])
    assert answers[0] == answers[1]

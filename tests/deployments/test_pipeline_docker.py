"""The pipeline end to end on the real Docker Engine, over small repos the tests create.

The test settings run django-q2 tasks inline, so `POST /deploy` returns once the worker's
work is done; everything else is real: git clones, image builds, containers, HTTP.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest
import requests
from django.conf import settings

from deployments.models import Deployment
from projects.models import Project
from tests import samples
from tests.docker_fixtures import docker_cli, docker_inspect

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


def deploy(client, **form) -> dict:
    response = client.post("/deploy", form)
    assert response.status_code == 202, response.content
    return response.json()


def detail(client, deployment_id: int) -> dict:
    return client.get(f"/api/deployments/{deployment_id}").json()


def log_text(client, deployment_id: int) -> str:
    lines = client.get(f"/api/deployments/{deployment_id}/logs?limit=2000").json()["lines"]
    return "\n".join(line["text"] for line in lines)


def page(url: str) -> str:
    return requests.get(url, timeout=10).text


def _ours(project_id: int) -> list[str]:
    return [
        "--filter",
        "label=butler.managed=true",
        "--filter",
        f"label=butler.project={project_id}",
        "--filter",
        f"label=butler.instance={settings.BUTLER_INSTANCE_ID}",
    ]


def labelled(kind: str, project_id: int) -> list[str]:
    """This run's objects of the project (another run on the engine has its own project 1)."""
    filters = ["--filter", f"label=butler.project={project_id}"]
    filters += ["--filter", f"label=butler.instance={settings.BUTLER_INSTANCE_ID}"]
    if kind == "container":
        out = docker_cli("ps", "-aq", *filters)
    elif kind == "image":
        out = docker_cli("images", "-q", *filters)
    else:
        out = docker_cli("network", "ls", "-q", *filters)
    return out.split()


def assert_serves(url: str, marker: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if marker in page(url):
                return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.3)


def assert_running(client, deployment_id: int, marker: str) -> dict:
    body = detail(client, deployment_id)
    assert body["status"] == "running", f"{body['error']}\n---\n{log_text(client, deployment_id)}"
    assert marker in page(body["deployed_url"])
    return body


def assert_nothing_left(project_id: int) -> None:
    for kind in ("container", "image", "network"):
        assert labelled(kind, project_id) == [], f"{kind}s of project {project_id} left behind"
    assert (
        not list(settings.BUTLER_WORK_DIR.glob("deployment-*"))
        if settings.BUTLER_WORK_DIR.exists()
        else True
    )


def assert_failed(client, deployment_id: int, *phrases: str) -> dict:
    body = detail(client, deployment_id)
    assert body["status"] == "failed", body
    for phrase in phrases:
        assert phrase in body["error"], body["error"]
    assert body["message"].startswith("Deployment failed:")
    assert phrases[0] in log_text(client, deployment_id)
    assert_nothing_left(body["project_id"])
    return body


class TestFlaskLifecycle:
    def test_deploy_redeploy_actions_and_delete(self, alice_client, repos):
        repo = samples.flask_repo(repos / "flask-app")
        body = deploy(alice_client, git_url=str(repo))
        deployment = assert_running(alice_client, body["deployment_id"], samples.FLASK_MARKER)
        assert deployment["strategy"] == "flask"
        assert "gunicorn" in deployment["generated_dockerfile"]
        assert len(deployment["commit_sha"]) == 40
        assert set(deployment["phase_timings"]) >= {"clone", "detect", "build", "start", "ready"}
        assert deployment["message"] == "Deployment successful!"
        project = alice_client.get(f"/api/projects/{body['project_id']}").json()
        assert project["status"] == "running"
        assert project["deployed_url"] == deployment["deployed_url"]
        assert project["container_name"] == deployment["container_name"]
        assert project["container_name"].startswith("flask-app-")  # the app, not its folder

        container = docker_inspect(deployment["container_name"])
        labels = container["Config"]["Labels"]
        assert labels["butler.managed"] == "true"
        assert labels["butler.project"] == str(body["project_id"])
        assert labels["butler.deployment"] == str(body["deployment_id"])
        host = container["HostConfig"]
        [network] = container["NetworkSettings"]["Networks"]  # its own project network
        assert network == f"devops-butler-net-{settings.BUTLER_INSTANCE_ID}-p{body['project_id']}"
        assert host["RestartPolicy"]["Name"] == "unless-stopped"
        assert host["Privileged"] is False and host["CapDrop"] == ["ALL"]
        assert host["Memory"] > 0 and host["NanoCpus"] > 0
        assert container["Mounts"] == [] and not host["Binds"]
        assert f"PORT={deployment['container_port']}" in container["Config"]["Env"]

        # An unchanged commit redeploys without a build; the old container goes.
        again = deploy(alice_client, project_id=body["project_id"])
        second = assert_running(alice_client, again["deployment_id"], samples.FLASK_MARKER)
        assert "build skipped" in log_text(alice_client, again["deployment_id"])
        assert second["image_tag"] == deployment["image_tag"]
        assert docker_inspect(deployment["container_name"]) is None
        assert detail(alice_client, body["deployment_id"])["status"] == "superseded"
        history = alice_client.get(f"/api/projects/{body['project_id']}/deployments").json()
        assert [d["number"] for d in history] == [2, 1]

        # Stop, start, restart.
        assert alice_client.post(f"/api/projects/{body['project_id']}/stop").status_code == 200
        assert docker_inspect(second["container_name"])["State"]["Running"] is False
        assert Project.objects.get(id=body["project_id"]).status == "stopped"
        assert alice_client.post(f"/api/projects/{body['project_id']}/start").status_code == 200
        assert alice_client.post(f"/api/projects/{body['project_id']}/restart").status_code == 200
        assert docker_inspect(second["container_name"])["State"]["Running"] is True
        assert_serves(second["deployed_url"], samples.FLASK_MARKER)  # the URL survives a restart

        # A new commit that crashes at start: the old container keeps serving.
        samples.crashing_repo(repo)
        failed = deploy(alice_client, project_id=body["project_id"])
        assert detail(alice_client, failed["deployment_id"])["status"] == "failed"
        assert samples.FLASK_MARKER in page(second["deployed_url"])
        project = Project.objects.get(id=body["project_id"])
        assert project.status == "running" and project.deployed_url == second["deployed_url"]
        assert len(labelled("container", body["project_id"])) == 1

        response = alice_client.delete(f"/projects/{body['project_id']}")
        assert response.status_code == 200
        removed = response.json()["removed"]
        assert second["container_name"] in removed["containers"]
        assert removed["images"]
        assert_nothing_left(body["project_id"])


@pytest.mark.parametrize(
    ("make", "marker", "strategy"),
    [
        (samples.fastapi_repo, samples.FASTAPI_MARKER, "fastapi"),
        (samples.django_repo, samples.DJANGO_MARKER, "django"),
        (samples.express_repo, samples.EXPRESS_MARKER, "node"),
        (samples.static_repo, samples.STATIC_MARKER, "static"),
        (samples.dockerfile_repo, samples.DOCKERFILE_MARKER, "dockerfile"),
        (samples.procfile_repo, samples.PROCFILE_MARKER, "procfile"),
        (samples.vite_repo, samples.VITE_MARKER, "node-static"),
        (samples.nextjs_repo, samples.NEXTJS_MARKER, "nextjs"),
    ],
    ids=["fastapi", "django", "express", "static", "dockerfile", "procfile", "vite", "nextjs"],
)
def test_each_kind_of_app_deploys_and_serves_its_page(alice_client, repos, make, marker, strategy):
    repo = make(repos / "app")
    body = deploy(alice_client, git_url=str(repo))
    deployment = assert_running(alice_client, body["deployment_id"], marker)
    assert deployment["strategy"] == strategy
    assert alice_client.delete(f"/projects/{body['project_id']}").status_code == 200
    assert_nothing_left(body["project_id"])


def test_a_compose_app_runs_its_stack_and_delete_removes_it(alice_client, repos):
    repo = samples.compose_repo(repos / "stack", host_port=18080)
    body = deploy(alice_client, git_url=str(repo))
    deployment = assert_running(alice_client, body["deployment_id"], samples.COMPOSE_MARKER)
    assert deployment["strategy"] == "compose"
    assert not deployment["deployed_url"].endswith(":18080")  # the fixed host port was rewritten
    assert re.search(r"visits: \d+", page(deployment["deployed_url"])), "web cannot reach redis"
    assert len(labelled("container", body["project_id"])) == 2
    # The network the stack made carries Butler's labels, as everything Butler makes does.
    [network] = docker_cli(
        "network", "ls", "--format", "{{.Name}}", *_ours(body["project_id"])
    ).split()
    assert network.endswith("_default")  # compose's own default network, labelled by Butler
    response = alice_client.delete(f"/projects/{body['project_id']}")
    assert response.json()["removed"]["compose_projects"]
    assert_nothing_left(body["project_id"])
    compose_project = f"{settings.BUTLER_COMPOSE_PREFIX}-{body['project_id']}"
    assert (
        docker_cli(
            "ps", "-aq", "--filter", f"label=com.docker.compose.project={compose_project}"
        ).split()
        == []
    )


def test_a_frontend_and_backend_pair_deploys_backend_first_and_links_them(alice_client, repos):
    frontend, backend = samples.split_pair(repos / "web", repos / "api")
    body = deploy(
        alice_client, deploy_type="split", frontend_url=str(frontend), backend_url=str(backend)
    )
    back = assert_running(alice_client, body["deployment_ids"]["backend"], samples.BACKEND_MARKER)
    front = assert_running(
        alice_client, body["deployment_ids"]["frontend"], samples.FRONTEND_MARKER
    )
    html = page(front["deployed_url"])
    assert f"BACKEND_URL={back['deployed_url']}" in html
    assert f"VITE_API_URL={back['deployed_url']}" in html
    assert front["started_at"] > back["finished_at"]
    parent = alice_client.get(f"/api/projects/{body['project_id']}").json()
    assert parent["status"] == "running" and parent["deployed_url"] == front["deployed_url"]
    components = alice_client.get(f"/projects/{body['project_id']}/components").json()
    assert {c["component_type"]: c["status"] for c in components} == {
        "frontend": "running",
        "backend": "running",
    }

    # Redeploying the frontend alone reuses its child record.
    again = deploy(alice_client, project_id=body["project_id"], component_type="frontend")
    assert again["project_id"] == front["project_id"]
    assert_running(alice_client, again["deployment_id"], samples.FRONTEND_MARKER)

    child_ids = [c["id"] for c in components]
    assert alice_client.delete(f"/projects/{body['project_id']}").status_code == 200
    for project_id in [body["project_id"], *child_ids]:
        assert_nothing_left(project_id)


def test_the_port_is_found_from_the_logs_when_the_app_ignores_port(alice_client, repos):
    repo = repos / "fixed-port"
    samples._repo(
        repo,
        {
            "Dockerfile": """
                FROM python:3.11-slim
                COPY server.py /srv/server.py
                CMD ["python", "/srv/server.py"]
            """,
            "server.py": """
                from http.server import BaseHTTPRequestHandler, HTTPServer

                class Handler(BaseHTTPRequestHandler):
                    def do_GET(self):
                        self.send_response(200)
                        self.end_headers()
                        self.wfile.write(b"fixed port app")

                print("Listening on port 5055", flush=True)
                HTTPServer(("0.0.0.0", 5055), Handler).serve_forever()
            """,
        },
        "fixed port",
    )
    body = deploy(alice_client, git_url=str(repo))
    deployment = assert_running(alice_client, body["deployment_id"], "fixed port app")
    assert deployment["container_port"] == 5055
    assert "listens on port 5055" in log_text(alice_client, body["deployment_id"])
    assert len(labelled("container", body["project_id"])) == 1


class TestFailures:
    def test_a_missing_repository(self, alice_client, repos):
        (repos / "not-a-repo").mkdir()
        body = deploy(alice_client, git_url=str(repos / "not-a-repo"))
        assert_failed(alice_client, body["deployment_id"], "not")

    def test_an_unreachable_repository(self, alice_client, repos):
        # A name that never resolves (.invalid): accepted (it may resolve later), then the
        # clone says so.
        body = deploy(alice_client, git_url="https://git.example.invalid/nobody/nothing.git")
        assert_failed(alice_client, body["deployment_id"], "could not be resolved")

    def test_a_build_that_fails_shows_the_end_of_the_build_output(self, alice_client, repos):
        body = deploy(alice_client, git_url=str(samples.broken_build_repo(repos / "broken")))
        assert_failed(alice_client, body["deployment_id"], "compiling assets")

    def test_an_app_that_crashes_at_start_shows_its_last_log_lines(self, alice_client, repos):
        body = deploy(alice_client, git_url=str(samples.crashing_repo(repos / "crash")))
        failed = assert_failed(
            alice_client, body["deployment_id"], "exited", "DATABASE_URL is not set"
        )
        assert Project.objects.get(id=failed["project_id"]).status == "failed"

    def test_an_app_that_never_listens(self, alice_client, repos, settings):
        settings.BUTLER_READY_TIMEOUT = 6
        body = deploy(alice_client, git_url=str(samples.silent_repo(repos / "silent")))
        assert_failed(
            alice_client, body["deployment_id"], "did not answer HTTP", "waiting for jobs"
        )

    def test_a_missing_base_image_is_named(self, alice_client, repos):
        body = deploy(alice_client, git_url=str(samples.missing_base_image_repo(repos / "old")))
        assert_failed(alice_client, body["deployment_id"], "python:2.1-slim")

    @pytest.mark.parametrize("kind", ["privileged", "docker_socket", "network_host", "cap_add"])
    def test_a_malicious_compose_file_is_refused_naming_service_and_key(
        self, alice_client, repos, kind
    ):
        service, key, _ = samples.MALICIOUS_COMPOSE[kind]
        body = deploy(alice_client, git_url=str(samples.malicious_compose_repo(repos / kind, kind)))
        assert_failed(alice_client, body["deployment_id"], service, key)

    def test_an_undetectable_repository_says_what_was_looked_for(self, alice_client, repos):
        body = deploy(alice_client, git_url=str(samples.undetectable_repo(repos / "docs")))
        assert_failed(alice_client, body["deployment_id"], "Dockerfile", "package.json")

    def test_the_docker_engine_being_down(self, alice_client, repos, monkeypatch):
        from deployments.runtime import reset_runtime

        monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        reset_runtime()
        try:
            body = deploy(alice_client, git_url=str(samples.static_repo(repos / "site")))
        finally:
            monkeypatch.undo()
            reset_runtime()
        assert_failed(alice_client, body["deployment_id"], "Docker Engine is not reachable")


def test_no_git_process_starts_for_a_refused_url(alice_client, repos):
    def no_process(*args, **kwargs):
        raise AssertionError("a process was started")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess, "Popen", no_process)
        response = alice_client.post("/deploy", {"git_url": "ext::sh -c touch% /tmp/pwned"})
    assert response.status_code == 400
    assert not Deployment.objects.exists()

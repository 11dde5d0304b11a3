"""The corpus: real public repositories (`../shared/corpus/*.bundle`) deployed on the real
engine through `POST /deploy`, each with the outcome a user should get — served, or failed
quickly with an error naming the cause and what to do — and nothing left behind.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.deployments.test_pipeline_docker import (
    assert_failed,
    assert_nothing_left,
    deploy,
    detail,
    log_text,
)
from tests.docker_fixtures import docker_cli

pytestmark = [pytest.mark.docker, pytest.mark.corpus, pytest.mark.django_db(transaction=True)]

CORPUS = Path(settings.BASE_DIR).parent / "shared" / "corpus"


@pytest.fixture
def corpus_repo(repos):
    """`corpus_repo("name")`: the bundle cloned into a local repository Butler may deploy."""
    if not CORPUS.is_dir():
        pytest.skip(f"the corpus is not there ({CORPUS}): CI puts ../shared beside the clone")

    def clone(name: str) -> Path:
        bundle = CORPUS / f"{name}.bundle"
        assert bundle.is_file(), f"{bundle} is missing from the corpus"
        dest = repos / name
        # The bundles carry refs/heads/main but no HEAD, so name the branch.
        subprocess.run(
            ["git", "clone", "-q", "-b", "main", str(bundle), str(dest)],
            check=True,
            capture_output=True,
        )
        return dest

    return clone


def _served(client, body: dict, *markers: str, path: str = "/") -> dict:
    deployment = detail(client, body["deployment_id"])
    assert deployment["status"] == "running", (
        f"{deployment['error']}\n---\n{log_text(client, body['deployment_id'])}"
    )
    text = requests.get(deployment["deployed_url"] + path, timeout=15).text
    for marker in markers:
        assert marker in text, text[:500]
    return deployment


def _gone(client, deployment: dict) -> None:
    assert client.delete(f"/projects/{deployment['project_id']}").status_code == 200
    assert_nothing_left(deployment["project_id"])


def _seconds(deployment: dict, *phases: str) -> float:
    timings = deployment["phase_timings"] or {}
    return sum(timings.get(p, 0.0) for p in phases) if phases else sum(timings.values())


# ---------------------------------------------------------------------------------------------
# Served


def test_django_on_render_is_served_with_its_declared_start_and_a_database_warning(
    alice_client, corpus_repo
):
    body = deploy(alice_client, git_url=str(corpus_repo("render-examples--django")))
    deployment = _served(alice_client, body, "Hello Django on Render!")
    assert deployment["strategy"] == "django"
    logs = log_text(alice_client, body["deployment_id"])
    assert "render.yaml service 'mysite' startCommand" in logs
    assert "`./build.sh` is not run" in logs  # it migrates a database at build time
    assert "postgresql database on localhost" in logs and "DATABASE_URL" in logs
    _gone(alice_client, deployment)


def test_express_with_es_modules_is_served_on_port(alice_client, corpus_repo):
    body = deploy(alice_client, git_url=str(corpus_repo("railwayapp-templates--node-express")))
    deployment = _served(alice_client, body, '"status":"ok"')
    assert deployment["strategy"] == "node"
    assert deployment["container_port"] == 3000  # PORT, not .env.sample's 3333
    _gone(alice_client, deployment)


# ---------------------------------------------------------------------------------------------
# Failed, naming the cause, quickly

# Long builds whose failure two tests read: deployed once per run.
_FAILURES: dict[str, dict] = {}


def _failure_of(client, corpus_repo, name: str, phrase: str) -> dict:
    if name not in _FAILURES:
        body = deploy(client, git_url=str(corpus_repo(name)))
        failed = assert_failed(client, body["deployment_id"], phrase)
        failed["log"] = log_text(client, body["deployment_id"])  # the rows go with the test
        _FAILURES[name] = failed
    return _FAILURES[name]


NUXT = "render-examples--nuxtjs-hello-world"


def test_nuxt_latest_builds_on_the_newest_node_and_fails_on_this_engines_node_20(
    alice_client, corpus_repo
):
    """`nuxt: latest` is Nuxt 4, which needs Node 22.18+; with no engines and no lock file
    Butler builds on the newest LTS image. Every node:* stand-in of this test engine runs
    Node 20 (../shared/testenv/README.md), so here the build fails in `nuxt build`."""
    failed = _failure_of(alice_client, corpus_repo, NUXT, "Nuxt build error")
    assert failed["strategy"] == "nuxt"
    text = failed["generated_dockerfile"]
    assert "FROM node:24-slim AS build" in text
    assert "RUN test -e .output/server/index.mjs" in text
    logs = failed["log"]
    assert "render.yaml service 'nuxt-js' startCommand: yarn start (respected)" in logs


def test_the_nuxt_failure_names_the_node_its_dependencies_need(alice_client, corpus_repo):
    error = _failure_of(alice_client, corpus_repo, NUXT, "Nuxt build error")["error"]
    assert "requires Node ^22.18.0" in error and "runs Node 20" in error
    assert error.index("requires Node") < error.index("Last lines of the build output")


def test_fastify_on_localhost_fails_fast_saying_to_listen_on_all_addresses(
    alice_client, corpus_repo
):
    body = deploy(alice_client, git_url=str(corpus_repo("render-examples--fastify-hello-world")))
    failed = assert_failed(alice_client, body["deployment_id"], "port 3000", "0.0.0.0", "127.0.0.1")
    assert "only the container itself can connect to" in failed["error"]
    assert _seconds(failed, "ready") < 20, failed["phase_timings"]  # not the 60 s timeout


GATSBY = "render-examples--gatsby-starter-default"


def test_gatsby_fails_naming_the_host_its_build_could_not_reach(alice_client, corpus_repo):
    failed = _failure_of(alice_client, corpus_repo, GATSBY, "raw.githubusercontent.com")
    assert failed["strategy"] == "node-static"
    assert "for d in public;" in failed["generated_dockerfile"]


def test_gatsby_failure_says_why_the_host_was_unreachable(alice_client, corpus_repo):
    error = _failure_of(alice_client, corpus_repo, GATSBY, "raw.githubusercontent.com")["error"]
    assert "could not reach raw.githubusercontent.com" in error
    assert error.index("could not reach") < error.index("Last lines of the build output")


def test_a_monorepo_lists_its_deployable_folders_and_asks_for_root_dir(alice_client, corpus_repo):
    body = deploy(alice_client, git_url=str(corpus_repo("railwayapp-templates--monorepo-example")))
    failed = assert_failed(alice_client, body["deployment_id"], "frontend/", "backend/", "root_dir")
    assert "Vite static build" in failed["error"] and "Dockerfile" in failed["error"]
    assert _seconds(failed) < 15


def test_the_monorepo_frontend_is_served_with_root_dir(alice_client, corpus_repo):
    repo = corpus_repo("railwayapp-templates--monorepo-example")
    body = deploy(alice_client, git_url=str(repo), root_dir="frontend")
    deployment = _served(alice_client, body, '<div id="root">')
    assert deployment["strategy"] == "node-static"
    _gone(alice_client, deployment)


def test_the_monorepo_backend_fails_naming_its_go_base_image(alice_client, corpus_repo):
    repo = corpus_repo("railwayapp-templates--monorepo-example")
    body = deploy(alice_client, git_url=str(repo), root_dir="backend")
    assert_failed(alice_client, body["deployment_id"], "golang:1.22.5-alpine")


def test_a_compose_file_that_mounts_the_docker_socket_is_refused_naming_the_dockerfile(
    alice_client, corpus_repo
):
    body = deploy(alice_client, git_url=str(corpus_repo("dockersamples--getting-started-todo-app")))
    failed = assert_failed(alice_client, body["deployment_id"], "service 'proxy'", "Docker socket")
    assert "'volumes'" in failed["error"]
    assert "also has a Dockerfile" in failed["error"]
    assert "strategy to 'dockerfile'" in failed["error"]
    assert _seconds(failed) < 15


def test_the_todo_app_dockerfile_fails_naming_the_sqlite3_download_host(alice_client, corpus_repo):
    repo = corpus_repo("dockersamples--getting-started-todo-app")
    body = deploy(alice_client, git_url=str(repo), strategy="dockerfile")
    assert_failed(alice_client, body["deployment_id"], "could not reach github.com")
    assert "RUN --mount=type=cache" in log_text(alice_client, body["deployment_id"])


def test_a_dockerfile_on_unavailable_images_fails_naming_the_image(alice_client, corpus_repo):
    body = deploy(alice_client, git_url=str(corpus_repo("astral-sh--uv-fastapi-example")))
    failed = assert_failed(alice_client, body["deployment_id"], "python:3.12-slim-bullseye")
    assert "BUTLER_PYTHON_IMAGE" in failed["error"] or "FROM" in failed["error"]
    assert _seconds(failed) < 20


def test_unavailable_images_name_every_missing_one_and_the_python_alternative(
    alice_client, corpus_repo
):
    body = deploy(alice_client, git_url=str(corpus_repo("astral-sh--uv-fastapi-example")))
    failed = assert_failed(alice_client, body["deployment_id"], "ghcr.io/astral-sh/uv:latest")
    assert "Dockerfile line 1" in failed["error"]
    assert "strategy to 'python'" in failed["error"]


def test_the_uv_example_built_as_python_serves_where_the_image_runs_its_python(
    alice_client, corpus_repo
):
    """Built by Butler with uv instead of its Dockerfile. Its lock pins httptools 0.6.1, which
    has wheels up to CPython 3.12 only; this engine's python:3.12-slim stand-in runs 3.13
    (../shared/testenv/README.md), where httptools does not compile."""
    repo = corpus_repo("astral-sh--uv-fastapi-example")
    body = deploy(alice_client, git_url=str(repo), strategy="python")
    deployment = detail(alice_client, body["deployment_id"])
    assert deployment["strategy"] == "fastapi"
    assert "uv sync --frozen" in deployment["generated_dockerfile"]
    version = docker_cli(
        "run", "--rm", "python:3.12-slim", "python", "-c", "import sys; print(sys.version_info[1])"
    ).strip()
    if version == "12":
        served = _served(alice_client, body, "Hello Bigger Applications!", path="/?token=jessica")
        _gone(alice_client, served)
    else:
        assert_failed(alice_client, body["deployment_id"], "httptools")

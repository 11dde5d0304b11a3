"""Real builds of what people push, on the real engine, through `POST /deploy`.

Each test covers several dimensions at once so the whole file stays within a few minutes on
a small machine with cold registry caches: a dependency manager with a package that compiles
against a C library (the page proves the library is there at run time), a framework with a
package manager. What is not built here is covered by the generated-Dockerfile unit tests.
"""

from __future__ import annotations

import time

import pytest

from deployments.runtime.base import ContainerSpec
from tests import samples
from tests.deployments.test_pipeline_docker import (
    assert_failed,
    assert_nothing_left,
    assert_running,
    deploy,
    detail,
    log_text,
    page,
)

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


def _served(client, repo, marker: str, strategy: str) -> dict:
    body = deploy(client, git_url=str(repo))
    deployment = assert_running(client, body["deployment_id"], marker)
    assert deployment["strategy"] == strategy
    return deployment


def _delete(client, deployment: dict) -> None:
    assert client.delete(f"/projects/{deployment['project_id']}").status_code == 200
    assert_nothing_left(deployment["project_id"])


class TestPython:
    def test_uv_with_psycopg2_from_source_names_the_database_variables_then_serves(
        self, alice_client, repos
    ):
        """The motivating Django case: psycopg2 (not -binary) must compile against libpq, and
        the app, started with no database configured, must fail naming the variables."""
        repo = samples.uv_psycopg2_repo(repos / "uv-app")
        body = deploy(alice_client, git_url=str(repo))
        failed = assert_failed(alice_client, body["deployment_id"], "PostgreSQL", "PGDATABASE")
        assert "DATABASE_URL" in failed["error"]
        dockerfile = failed["generated_dockerfile"]
        assert "uv sync --frozen" in dockerfile and "libpq-dev" in dockerfile

        response = alice_client.post(
            "/api/env-vars",
            {"project_id": body["project_id"], "variables": {"SKIP_DB": "1"}},
            format="json",
        )
        assert response.status_code in (200, 201), response.content
        again = deploy(alice_client, project_id=body["project_id"])
        served = assert_running(alice_client, again["deployment_id"], samples.UV_MARKER)
        assert "libpq 1" in page(served["deployed_url"])  # libpq's version, e.g. 170005
        _delete(alice_client, served)

    def test_poetry_with_mysqlclient_keeps_the_client_library_at_run_time(
        self, alice_client, repos
    ):
        repo = samples.poetry_mysqlclient_repo(repos / "poetry-app")
        deployment = _served(alice_client, repo, samples.POETRY_MARKER, "python")
        assert "mysqlclient 2.2.7" in page(deployment["deployed_url"])
        final = deployment["generated_dockerfile"].split("\nFROM python:3.11-slim\n")[1]
        assert "default-libmysqlclient-dev" not in final
        _delete(alice_client, deployment)

    def test_pipenv_lock_and_a_plain_pyproject_with_a_runtime_library(self, alice_client, repos):
        pipenv = _served(
            alice_client, samples.pipenv_repo(repos / "pipenv-app"), samples.PIPENV_MARKER, "python"
        )
        assert "pipenv requirements" in pipenv["generated_dockerfile"]
        _delete(alice_client, pipenv)
        plain = _served(
            alice_client,
            samples.pyproject_psycopg3_repo(repos / "pyproject-app"),
            samples.PYPROJECT_MARKER,
            "python",
        )
        assert "libpq 1" in page(plain["deployed_url"])  # psycopg 3 found libpq5 by itself
        _delete(alice_client, plain)


class TestNode:
    def test_typescript_compiled_before_start_with_yarn_berry(self, alice_client, repos):
        repo = samples.yarn_berry_typescript_repo(repos / "berry-ts")
        deployment = _served(alice_client, repo, samples.BERRY_MARKER, "node")
        text = deployment["generated_dockerfile"]
        assert "@yarnpkg/cli-dist@4.5.3" in text and "tsc -p tsconfig.json" in text
        _delete(alice_client, deployment)

    def test_sveltekit_adapter_node_with_pnpm(self, alice_client, repos):
        repo = samples.sveltekit_pnpm_repo(repos / "kit")
        deployment = _served(alice_client, repo, samples.SVELTEKIT_MARKER, "sveltekit")
        assert "pnpm install" in deployment["generated_dockerfile"]
        _delete(alice_client, deployment)

    def test_astro_static_with_yarn_1(self, alice_client, repos):
        repo = samples.astro_yarn1_repo(repos / "astro")
        deployment = _served(alice_client, repo, samples.ASTRO_MARKER, "node-static")
        assert "yarn install" in deployment["generated_dockerfile"]
        assert "<p>about</p>" in page(deployment["deployed_url"] + "/about")  # $uri.html
        _delete(alice_client, deployment)


class TestFailuresNamed:
    def test_a_build_whose_output_is_elsewhere_says_what_was_expected_where(
        self, alice_client, repos
    ):
        repo = samples.vite_repo(repos / "vite-elsewhere")
        (repo / "vite.config.js").write_text(
            "export default {\n  // outDir: 'dist',\n  build: { outDir: process.env.OUT || 'site' },\n}\n"
        )
        samples._commit(repo, "output folder computed")
        body = deploy(alice_client, git_url=str(repo))
        failed = assert_failed(alice_client, body["deployment_id"], "Butler expected")
        assert "index.html into one of /app/dist/" in failed["error"]
        assert "computed when the config runs" in log_text(alice_client, body["deployment_id"])

    def test_an_ancient_engines_node_builds_on_the_nearest_with_a_warning(
        self, alice_client, repos
    ):
        repo = samples.express_repo(repos / "old-node", node_version="4.0.0")
        deployment = _served(alice_client, repo, samples.EXPRESS_MARKER, "node")
        logs = log_text(alice_client, deployment["id"])
        assert "engines.node '4.0.0' asks for Node 4" in logs and "using Node 18" in logs
        assert "FROM node:18-slim" in detail(alice_client, deployment["id"])["generated_dockerfile"]
        _delete(alice_client, deployment)


class TestListeningSockets:
    def test_the_runtime_reads_what_a_container_listens_on(self, runtime, unique_name):
        network = unique_name("net")
        runtime.ensure_network(network)
        spec = ContainerSpec(
            name=unique_name("sockets"),
            image="python:3.11-slim",
            command=["python", "-m", "http.server", "--bind", "127.0.0.1", "8000"],
            env={},
            labels={"butler.project": "sockets-test"},
            container_port=8000,
            network=network,
            memory="128m",
            cpus=0.5,
        )
        container = runtime.run_container(spec)
        deadline = time.monotonic() + 20
        sockets: list = []
        while time.monotonic() < deadline and ("127.0.0.1", 8000) not in sockets:
            sockets = runtime.listening_sockets(container.id) or []
            time.sleep(0.2)
        assert ("127.0.0.1", 8000) in sockets
        assert not any(address in ("0.0.0.0", "::") for address, _ in sockets)

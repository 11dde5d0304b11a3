"""Stable URLs through the real Caddy, on the real Docker Engine: the address a user bookmarks
keeps working across redeploys and rollbacks with no failed request, custom domains route
(sent with a Host header), unknown hosts get Butler's 404, a stopped app says so, a
multi-repo frontend keeps reaching its backend, and delete frees it all."""

from __future__ import annotations

import http.client
import threading
import time

import pytest
import requests
from django.conf import settings

from deployments.proxy.addresses import port_range
from tests import samples
from tests.deployments.test_pipeline_docker import (
    assert_nothing_left,
    assert_running,
    deploy,
    detail,
)
from tests.docker_fixtures import docker_cli, docker_inspect

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


def get_after_reload(url: str, **kwargs) -> requests.Response:
    """A GET right after a change that reloads Caddy's configuration (a domain added, a first
    deploy, a delete): Caddy may reset a connection that arrives while its
    old servers stop (seen about once per reload under load), so a refused or reset
    connection is tried again, twice at most. Redeploys, rollbacks, stop and start do not
    reload Caddy; the tests of those never retry."""
    for attempt in range(3):
        try:
            return requests.get(url, timeout=10, **kwargs)
        except requests.ConnectionError:
            if attempt == 2:
                raise
            time.sleep(0.3)
    raise AssertionError("unreachable")


def via_host(host: str, path: str = "/") -> requests.Response:
    """A request to the shared HTTP port, as a browser sends it for `host` (after a reload)."""
    return get_after_reload(
        f"http://127.0.0.1:{settings.BUTLER_HTTP_PORT}{path}", headers={"Host": host}
    )


def wait_for(check, timeout: float = 30, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out")


class Load(threading.Thread):
    """About 50 requests a second to `url`: each on a new connection, or (`keep_alive`) all
    over one connection that is never opened again, so a proxy closing it would show."""

    def __init__(self, url: str, *, keep_alive: bool = False):
        super().__init__(daemon=True)
        self.url = url
        self.keep_alive = keep_alive
        self.done = threading.Event()
        self.answers: list[str] = []
        self.failures: list[str] = []

    def _get(self, conn) -> tuple[int, str]:
        if conn is None:
            response = requests.get(self.url, timeout=10)
            return response.status_code, response.text
        conn.request("GET", "/")
        response = conn.getresponse()
        return response.status, response.read().decode()

    def run(self):
        port = int(self.url.rsplit(":", 1)[1])
        conn = (
            http.client.HTTPConnection("127.0.0.1", port, timeout=10) if self.keep_alive else None
        )
        while not self.done.is_set():
            try:
                status, text = self._get(conn)
                if status == 200:
                    self.answers.append(text)
                else:
                    self.failures.append(f"HTTP {status}: {text[:200]}")
            except (requests.RequestException, OSError, http.client.HTTPException) as exc:
                self.failures.append(repr(exc))
                if conn is not None:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            self.done.wait(0.02)

    def stop(self) -> Load:
        self.done.set()
        self.join(timeout=15)
        return self


def test_the_url_survives_redeploys_and_a_rollback_without_a_failed_request(
    alice_client, repos, settings
):
    settings.BUTLER_RETIRE_SECONDS = 2
    repo = samples.env_page_repo(repos / "site", marker="version one")
    first = deploy(alice_client, git_url=str(repo))
    v1 = assert_running(alice_client, first["deployment_id"], "version one")
    url = v1["deployed_url"]
    project = alice_client.get(f"/api/projects/{first['project_id']}").json()
    assert url == f"http://localhost:{project['public_port']}"
    assert project["public_port"] in port_range()
    assert project["public_port"] != v1["host_port"]  # Caddy's port, not the container's

    loads = [Load(url), Load(url, keep_alive=True)]
    for load in loads:
        load.start()
    samples.env_page_repo(repos / "site", marker="version two")
    second = deploy(alice_client, project_id=first["project_id"])
    v2 = assert_running(alice_client, second["deployment_id"], "version two")
    assert v2["deployed_url"] == url
    back = alice_client.post(
        f"/api/projects/{first['project_id']}/rollback",
        {"deployment_id": first["deployment_id"]},
        format="json",
    )
    assert back.status_code == 202, back.content
    v3 = assert_running(alice_client, back.json()["deployment_id"], "version one")
    assert v3["deployed_url"] == url
    time.sleep(0.5)
    for load in loads:
        load.stop()
        assert load.failures == []
        assert len(load.answers) > 20
        assert any("version two" in a for a in load.answers)
        assert "version one" in load.answers[-1]

    # The replaced containers finish what they have, then go.
    for replaced in (v1, v2):
        wait_for(lambda c=replaced: docker_inspect(c["container_name"]) is None, timeout=20)
    assert docker_inspect(v3["container_name"])["State"]["Running"] is True
    assert "version one" in via_host(project["hostname"]).text
    alice_client.delete(f"/projects/{first['project_id']}")
    assert_nothing_left(first["project_id"])


def test_domains_route_refusals_say_why_unknown_hosts_get_404_and_stopped_says_so(
    alice_client, bob_client, repos
):
    repo = samples.env_page_repo(repos / "shop", marker="the shop")
    body = deploy(alice_client, git_url=str(repo))
    running = assert_running(alice_client, body["deployment_id"], "the shop")
    domains = f"/api/projects/{body['project_id']}/domains"
    added = alice_client.post(domains, {"domain": "www.my-shop.test"}, format="json")
    assert added.status_code == 201, added.content
    assert "the shop" in via_host("www.my-shop.test").text
    assert "the shop" in via_host(added.json()["hostname"]).text

    unknown = via_host("nobody.my-shop.test")
    assert unknown.status_code == 404 and "Butler has no app at this address" in unknown.text

    theirs = bob_client.post("/api/import", {"git_url": str(repo)}, format="json").json()
    taken = bob_client.post(
        f"/api/projects/{theirs['project_id']}/domains",
        {"domain": "www.my-shop.test"},
        format="json",
    )
    assert taken.status_code == 400 and "www.my-shop.test" in taken.json()["detail"]
    invalid = alice_client.post(domains, {"domain": "shop..test"}, format="json")
    assert invalid.status_code == 400 and "shop..test" in invalid.json()["detail"]
    own = alice_client.post(domains, {"domain": "localhost"}, format="json")
    assert own.status_code == 400 and "Butler's own" in own.json()["detail"]
    assert bob_client.post(domains, {"domain": "bob.test"}, format="json").status_code == 404

    assert alice_client.post(f"/api/projects/{body['project_id']}/stop").status_code == 200
    stopped = requests.get(running["deployed_url"], timeout=10)  # stop reloads nothing
    assert stopped.status_code == 503 and "is stopped" in stopped.text
    assert via_host("www.my-shop.test").status_code == 503
    assert alice_client.post(f"/api/projects/{body['project_id']}/start").status_code == 200
    assert "the shop" in requests.get(running["deployed_url"], timeout=10).text
    alice_client.delete(f"/projects/{body['project_id']}")
    assert_nothing_left(body["project_id"])


def test_delete_frees_the_port_and_removes_every_route(alice_client, repos, settings):
    repo = samples.env_page_repo(repos / "gone", marker="soon gone")
    body = deploy(alice_client, git_url=str(repo))
    running = assert_running(alice_client, body["deployment_id"], "soon gone")
    project = alice_client.get(f"/api/projects/{body['project_id']}").json()
    alice_client.post(
        f"/api/projects/{body['project_id']}/domains",
        {"domain": "gone.example.test"},
        format="json",
    )
    deleted = alice_client.delete(f"/projects/{body['project_id']}")
    assert deleted.status_code == 200 and deleted.json()["removed"]["ports"] == [
        project["public_port"]
    ]
    with pytest.raises(requests.ConnectionError):
        requests.get(running["deployed_url"], timeout=5)
    assert via_host(project["hostname"]).status_code == 404
    assert via_host("gone.example.test").status_code == 404
    assert_nothing_left(body["project_id"])

    # With only the freed port left to hand out, the next project gets it.
    settings.BUTLER_PROXY_PORTS = str(project["public_port"])
    again = deploy(alice_client, git_url=str(samples.env_page_repo(repos / "next", marker="next")))
    assert_running(alice_client, again["deployment_id"], "next")
    assert detail(alice_client, again["deployment_id"])["deployed_url"] == running["deployed_url"]
    alice_client.delete(f"/projects/{again['project_id']}")


def test_a_frontend_still_reaches_its_backend_after_the_backend_is_redeployed(alice_client, repos):
    frontend, backend = samples.split_pair(repos / "web", repos / "api")
    body = deploy(
        alice_client, deploy_type="split", frontend_url=str(frontend), backend_url=str(backend)
    )
    back = assert_running(alice_client, body["deployment_ids"]["backend"], samples.BACKEND_MARKER)
    front = assert_running(
        alice_client, body["deployment_ids"]["frontend"], samples.FRONTEND_MARKER
    )
    built_with = back["deployed_url"]
    assert f"BACKEND_URL={built_with}" in requests.get(front["deployed_url"], timeout=10).text

    samples.split_pair(repos / "web", repos / "api", backend_marker="the backend, redeployed")
    again = deploy(alice_client, project_id=body["project_id"], component_type="backend")
    assert_running(alice_client, again["deployment_id"], "the backend, redeployed")
    # The frontend was not rebuilt: the URL it was built with now reaches the new backend.
    assert f"BACKEND_URL={built_with}" in requests.get(front["deployed_url"], timeout=10).text
    assert "the backend, redeployed" in requests.get(f"{built_with}/api/hello", timeout=10).text

    parent = alice_client.get(f"/api/projects/{body['project_id']}").json()
    assert parent["deployed_url"] == front["deployed_url"]
    assert parent["public_port"] == int(front["deployed_url"].rsplit(":", 1)[1])
    assert samples.FRONTEND_MARKER in via_host(parent["hostname"]).text
    components = alice_client.get(f"/projects/{body['project_id']}/components").json()
    alice_client.delete(f"/projects/{body['project_id']}")
    for project_id in [body["project_id"], *(c["id"] for c in components)]:
        assert_nothing_left(project_id)


def test_a_compose_stack_routes_its_main_service_and_publishes_nothing_else(alice_client, repos):
    repo = samples.compose_repo(repos / "stack")
    compose = (repo / "docker-compose.yml").read_text()
    (repo / "docker-compose.yml").write_text(
        compose.replace("image: redis:7", 'image: redis:7\n    ports:\n      - "6379:6379"')
    )
    samples._commit(repo, "redis asks for a public port")
    body = deploy(alice_client, git_url=str(repo))
    running = assert_running(alice_client, body["deployment_id"], samples.COMPOSE_MARKER)
    project = alice_client.get(f"/api/projects/{body['project_id']}").json()
    assert running["deployed_url"] == f"http://localhost:{project['public_port']}"
    assert samples.COMPOSE_MARKER in via_host(project["hostname"]).text
    stack = f"{settings.BUTLER_COMPOSE_PREFIX}-{body['project_id']}"
    for name in docker_cli(
        "ps", "-q", "--filter", f"label=com.docker.compose.project={stack}"
    ).split():
        info = docker_inspect(name)
        published = [b for b in (info["NetworkSettings"]["Ports"] or {}).values() if b]
        service = info["Config"]["Labels"]["com.docker.compose.service"]
        if service == "web":
            assert [b["HostIp"] for bindings in published for b in bindings] == ["127.0.0.1"]
        else:
            assert published == [], f"{service} is published: {published}"
    alice_client.delete(f"/projects/{body['project_id']}")
    assert_nothing_left(body["project_id"])

"""Stable addresses and the routing table, over the in-memory runtime and proxy: what a user
sees (the URL, the port, the name) and what the proxy is told, across deploys, failures,
stops, rollbacks and deletes."""

from __future__ import annotations

import socket

import pytest

from deployments import queue, services
from deployments.models import Deployment
from deployments.pipeline import ready
from deployments.pipeline.execute import run_deployment
from deployments.proxy import Serving, routing_table
from deployments.proxy.addresses import NoFreePort, address_assign, port_range
from deployments.services import deployment_create
from projects.models import Domain, Project
from projects.services import project_delete
from tests import samples
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _free_block(size: int) -> tuple[int, int]:
    """`size` consecutive ports nothing listens on (so the bind check passes)."""
    for start in range(21000, 30000, size + 7):
        ports = range(start, start + size)
        ok = True
        for port in ports:
            with socket.socket() as sock:
                try:
                    sock.bind(("", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return start, start + size - 1
    raise AssertionError("no free ports")


@pytest.fixture
def ports(settings):
    first, last = _free_block(5)
    settings.BUTLER_PROXY_PORTS = f"{first}-{last}"
    return list(range(first, last + 1))


@pytest.fixture
def fake(fake_runtime, fake_proxy, monkeypatch, ports):
    monkeypatch.setattr(queue, "_enqueue", lambda deployment_id: None)
    monkeypatch.setattr(
        ready, "answers_http", lambda host, port, timeout=2.0: host == "127.0.0.1" and bool(port)
    )
    return fake_runtime


@pytest.fixture
def project(alice, settings, tmp_path):
    settings.BUTLER_LOCAL_GIT_ROOTS = [str(tmp_path)]
    settings.BUTLER_READY_TIMEOUT = 3
    repo = samples.static_repo(tmp_path / "site")
    return ProjectFactory(owner=alice, app_name="site", git_url=str(repo))


def run(project, **kwargs) -> Deployment:
    deployment = deployment_create(project=project, trace_id="trace-test", **kwargs)
    run_deployment(deployment.id)
    deployment.refresh_from_db()
    return deployment


class TestStableAddress:
    def test_the_first_deploy_gives_a_port_and_a_name_that_redeploys_keep(
        self, project, fake, fake_proxy, ports
    ):
        first = run(project)
        project.refresh_from_db()
        assert project.public_port == ports[0]
        assert project.subdomain == "site"
        assert first.deployed_url == project.deployed_url == f"http://localhost:{ports[0]}"
        route = fake_proxy.table.by_port(ports[0])
        assert route.upstream == f"127.0.0.1:{first.host_port}" and route.serving == Serving.UP
        assert route.hosts == ("site.localhost",)

        second = run(project)
        project.refresh_from_db()
        assert second.host_port != first.host_port  # a new container
        assert second.deployed_url == first.deployed_url  # the same address
        assert fake_proxy.table.by_port(ports[0]).upstream == f"127.0.0.1:{second.host_port}"
        assert fake_proxy.table.by_host("site.localhost").upstream.endswith(str(second.host_port))

    def test_a_failed_redeploy_leaves_the_route_alone(self, project, fake, fake_proxy, ports):
        first = run(project)
        pushes = len(fake_proxy.pushes)
        fake.container_exit_code = 1
        failed = run(project)
        assert failed.status == "failed"
        assert len(fake_proxy.pushes) == pushes
        assert fake_proxy.table.by_port(ports[0]).upstream == f"127.0.0.1:{first.host_port}"

    def test_a_rollback_keeps_the_address(self, project, fake, fake_proxy, ports, tmp_path):
        first = run(project)
        samples.static_repo(tmp_path / "site", marker="second")
        run(project)
        created = services.deployment_rollback(project=project, deployment_id=first.id)
        back = Deployment.objects.get(id=created["app"].id)
        run_deployment(back.id)
        back.refresh_from_db()
        assert back.status == "running", back.error
        assert back.deployed_url == first.deployed_url
        assert fake_proxy.table.by_port(ports[0]).upstream == f"127.0.0.1:{back.host_port}"

    def test_the_replaced_container_is_removed_once_the_route_moved(self, project, fake):
        first = run(project)
        second = run(project)
        names = [c.info.name for c in fake.containers.values()]
        assert names == [second.container_name]
        assert first.container_name not in names

    def test_a_proxy_that_is_down_does_not_fail_the_deploy(self, project, fake, fake_proxy):
        from deployments.proxy import ProxyFailure

        fake_proxy.fail_with = ProxyFailure("Caddy is not answering")
        deployment = run(project)
        assert deployment.status == "running"
        text = "\n".join(deployment.log_lines.values_list("text", flat=True))
        assert "gets the new route once it is back" in text

    def test_stopping_answers_503_and_starting_routes_again(self, project, fake, fake_proxy, ports):
        run(project)
        services.project_container_action(project=project, action="stop")
        assert fake_proxy.table.by_port(ports[0]).serving == Serving.STOPPED
        services.project_container_action(project=project, action="start")
        route = fake_proxy.table.by_port(ports[0])
        running = project.deployments.get(status="running")
        assert route.serving == Serving.UP and route.upstream == f"127.0.0.1:{running.host_port}"
        project.refresh_from_db()
        assert project.deployed_url == f"http://localhost:{ports[0]}"  # not the new host port

    def test_delete_frees_the_port_and_removes_the_routes(
        self, project, fake, fake_proxy, ports, alice, tmp_path
    ):
        run(project)
        Domain.objects.create(project=project, domain="www.site.test")
        removed = project_delete(project=project)
        assert removed["ports"] == [ports[0]]
        assert fake_proxy.table.routes == ()
        other = ProjectFactory(owner=alice, app_name="next", git_url=project.git_url)
        run(other)
        other.refresh_from_db()
        assert other.public_port == ports[0]  # free again

    def test_a_split_parent_is_named_and_serves_its_frontend(self, alice, fake, fake_proxy, ports):
        parent = ProjectFactory(owner=alice, app_name="shop", git_url="split::a|b")
        front = ProjectFactory(
            owner=alice, app_name="shop-frontend", parent=parent, component_type="frontend"
        )
        back = ProjectFactory(
            owner=alice, app_name="shop-backend", parent=parent, component_type="backend"
        )
        address_assign(project=back)
        address_assign(project=front)
        parent.refresh_from_db()
        assert parent.subdomain == "shop" and parent.public_port is None
        Deployment.objects.create(
            project=front, number=1, trace_id="t", git_url="x", status="running", host_port=40001
        )
        table = routing_table()
        assert table.by_host("shop.localhost").upstream == "127.0.0.1:40001"
        assert table.by_host("shop-frontend.localhost").upstream == "127.0.0.1:40001"
        assert table.by_host("shop-backend.localhost").serving == Serving.DOWN


class TestAssignment:
    def test_a_port_another_program_holds_is_skipped(self, alice, ports):
        with socket.socket() as sock:
            sock.bind(("", ports[0]))
            sock.listen()
            project = address_assign(project=ProjectFactory(owner=alice))
        assert project.public_port == ports[1]

    def test_names_stay_unique_across_users(self, alice, bob, ports):
        mine = address_assign(project=ProjectFactory(owner=alice, app_name="blog"))
        theirs = address_assign(project=ProjectFactory(owner=bob, app_name="blog"))
        assert mine.subdomain == "blog"
        assert theirs.subdomain == f"blog-{theirs.id}"

    def test_assigning_again_changes_nothing(self, alice, ports):
        project = address_assign(project=ProjectFactory(owner=alice))
        again = address_assign(project=Project.objects.get(id=project.id))
        assert (again.public_port, again.subdomain) == (project.public_port, project.subdomain)

    def test_a_full_range_says_what_to_do(self, alice, settings, ports):
        settings.BUTLER_PROXY_PORTS = str(ports[0])
        address_assign(project=ProjectFactory(owner=alice))
        with pytest.raises(NoFreePort, match="BUTLER_PROXY_PORTS"):
            address_assign(project=ProjectFactory(owner=alice))

    def test_port_ranges_mix_ranges_and_single_ports(self):
        assert port_range("8100-8102, 9000") == [8100, 8101, 8102, 9000]
        with pytest.raises(ValueError, match="abc"):
            port_range("abc")

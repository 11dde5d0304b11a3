"""The Caddy configuration Butler pushes for a routing table (pure: no Caddy runs here), and
the compose rewrite that keeps a stack's other services unpublished."""

from __future__ import annotations

import pytest

from deployments.pipeline.compose_check import check_compose
from deployments.proxy.base import Route, RoutingTable, Serving
from deployments.proxy.caddy import admin_address, caddy_config, stopped_file, upstream_file
from deployments.proxy.compose_routes import publish_only_routed
from tests import samples


def table(*routes: Route) -> RoutingTable:
    return RoutingTable(routes=routes)


def up(project_id=1, port=8100, hosts=("shop.localhost",), upstream="127.0.0.1:49153", **kw):
    return Route(project_id, "shop", port, tuple(hosts), upstream, **kw)


def handlers(server: dict) -> list[str]:
    return [route["handle"][0]["handler"] for route in server["routes"]]


def answers(config: dict, port: int = 8100) -> tuple[dict, dict, dict]:
    """A route's three answers, picked at each request by the files Butler wrote: proxy (its
    upstream file exists), stopped (its stopped marker exists), not running (neither)."""
    [route] = config["apps"]["http"]["servers"][f"port-{port}"]["routes"]
    [subroute] = route["handle"]
    assert subroute["handler"] == "subroute"
    proxy, stopped, down = (r["handle"][0] for r in subroute["routes"])
    return proxy, stopped, down


def test_each_public_port_is_a_plain_http_server_proxying_to_the_container():
    config = caddy_config(table(up()))
    server = config["apps"]["http"]["servers"]["port-8100"]
    assert server["listen"] == [":8100"]
    assert server["automatic_https"] == {"disable": True}
    proxy, _, _ = answers(config)
    # The upstream is read from Butler's file at each request, not written in the config.
    assert proxy["upstreams"] == [{"dial": f"{{file.{upstream_file(up())}}}"}]


def test_a_switch_rewrites_the_upstream_file_and_leaves_the_config_alone(monkeypatch):
    from deployments.proxy import caddy

    loaded = []
    monkeypatch.setattr(
        caddy,
        "admin_request",
        lambda method, path, body=None, **kw: loaded.append(body) or (200, b""),
    )
    proxy = caddy.CaddyProxy()
    proxy.push(table(up(upstream="127.0.0.1:40001"), up(project_id=2, port=8101)))
    assert upstream_file(up()).read_text() == "127.0.0.1:40001"
    proxy.push(table(up(upstream="127.0.0.1:40002"), up(project_id=2, port=8101)))
    assert upstream_file(up()).read_text() == "127.0.0.1:40002"
    assert loaded[0] == loaded[1]  # Caddy skips an unchanged config: no reload at all
    proxy.push(table(up(upstream="127.0.0.1:40002")))
    assert not upstream_file(up(project_id=2)).exists()  # a route that went, its file too


def test_placeholders_cannot_be_smuggled_into_pages():
    route = Route(1, "{file./etc/passwd}", 8100, (), None, serving=Serving.STOPPED)
    _, stopped, down = answers(caddy_config(table(route)))
    assert "{" not in stopped["body"] and "{" not in down["body"]


def test_names_share_the_http_port_and_unknown_hosts_get_butlers_404(settings):
    settings.BUTLER_HTTP_PORT = 18080
    config = caddy_config(table(up()))
    hosts = config["apps"]["http"]["servers"]["hosts"]
    assert hosts["listen"] == [":18080"]
    assert hosts["routes"][0]["match"] == [{"host": ["shop.localhost"]}]
    fallback = hosts["routes"][-1]
    assert "match" not in fallback
    assert fallback["handle"][0]["status_code"] == 404
    assert "Butler has no app at this address" in fallback["handle"][0]["body"]
    assert "https" not in config["apps"]["http"]["servers"]  # .localhost stays plain HTTP
    assert "tls" not in config["apps"]


def test_a_stopped_app_answers_503_saying_so_and_stop_or_start_reloads_nothing(monkeypatch):
    from deployments.proxy import caddy

    _, stopped, down = answers(caddy_config(table(up())))
    assert stopped["status_code"] == 503 and "shop is stopped" in stopped["body"]
    assert down["status_code"] == 503 and "not running" in down["body"]

    loaded = []
    monkeypatch.setattr(
        caddy,
        "admin_request",
        lambda method, path, body=None, **kw: loaded.append(body) or (200, b""),
    )
    proxy = caddy.CaddyProxy()
    proxy.push(table(up()))
    assert upstream_file(up()).exists() and not stopped_file(up()).exists()
    proxy.push(table(up(upstream=None, serving=Serving.STOPPED)))
    assert stopped_file(up()).exists() and not upstream_file(up()).exists()
    proxy.push(table(up(upstream=None, serving=Serving.DOWN)))
    assert not stopped_file(up()).exists() and not upstream_file(up()).exists()
    proxy.push(table(up()))
    assert upstream_file(up()).exists() and not stopped_file(up()).exists()
    # The same configuration each time: Caddy skips an unchanged one, so nothing reloads.
    assert all(body == loaded[0] for body in loaded)


def test_public_names_get_acme_certificates_and_a_redirect(settings):
    settings.BUTLER_ACME_EMAIL = "ops@example.com"
    settings.BUTLER_HTTPS_PORT = 443
    config = caddy_config(table(up(hosts=("shop.localhost", "www.shop.example.org"))))
    servers = config["apps"]["http"]["servers"]
    https = servers["https"]
    assert https["listen"] == [":443"]
    assert https["routes"][0]["match"] == [{"host": ["www.shop.example.org"]}]
    [policy] = config["apps"]["tls"]["automation"]["policies"]
    assert policy == {
        "subjects": ["www.shop.example.org"],
        "issuers": [{"module": "acme", "email": "ops@example.com"}],
    }
    redirect = next(
        r
        for r in servers["hosts"]["routes"]
        if r.get("match") == [{"host": ["www.shop.example.org"]}]
    )
    assert redirect["handle"][0]["status_code"] == 308
    assert redirect["handle"][0]["headers"]["Location"] == [
        "https://{http.request.host}{http.request.uri}"
    ]
    plain = servers["hosts"]["routes"][0]
    assert plain["match"] == [{"host": ["shop.localhost"]}]
    assert plain["handle"][0]["handler"] == "subroute"


def test_internal_tls_uses_caddys_own_ca_for_every_name(settings):
    settings.BUTLER_TLS = "internal"
    config = caddy_config(table(up()))
    [policy] = config["apps"]["tls"]["automation"]["policies"]
    assert policy["issuers"] == [{"module": "internal"}]
    assert policy["subjects"] == ["shop.localhost"]


def test_tls_off_serves_every_name_on_plain_http(settings):
    settings.BUTLER_TLS = "off"
    config = caddy_config(table(up(hosts=("www.shop.example.org",))))
    assert "tls" not in config["apps"]
    assert handlers(config["apps"]["http"]["servers"]["hosts"]) == [
        "subroute",
        "static_response",
    ]


def test_the_admin_api_is_a_unix_socket_and_nothing_is_persisted(settings, tmp_path):
    settings.BUTLER_CADDY_ADMIN = str(tmp_path / "admin.sock")
    config = caddy_config(table())
    assert config["admin"] == {
        "listen": f"unix/{tmp_path}/admin.sock",
        "config": {"persist": False},
    }


def test_an_admin_address_others_could_reach_is_refused(settings):
    from deployments.proxy import ProxyFailure

    settings.BUTLER_CADDY_ADMIN = "0.0.0.0:2019"
    with pytest.raises(ProxyFailure, match="loopback"):
        admin_address()
    settings.BUTLER_CADDY_ADMIN = "127.0.0.1:2019"
    assert admin_address() == "127.0.0.1:2019"


def test_a_too_long_socket_path_moves_to_the_temp_dir(settings):
    settings.BUTLER_CADDY_ADMIN = "/tmp/" + "d" * 120 + "/admin.sock"
    address = admin_address()
    assert address.startswith("unix/") and len(address) < 100


def test_a_taken_port_leaves_that_route_out_and_keeps_the_others(monkeypatch):
    from deployments.proxy import caddy

    calls = []

    def fake_request(method, path, body=None, **kwargs):
        calls.append(sorted(body["apps"]["http"]["servers"]))
        if "port-8101" in body["apps"]["http"]["servers"]:
            return (
                400,
                b'{"error":"loading config: listen tcp :8101: bind: address already in use"}',
            )
        return 200, b""

    monkeypatch.setattr(caddy, "admin_request", fake_request)
    skipped = caddy.CaddyProxy().push(table(up(), up(project_id=2, port=8101, hosts=())))
    assert skipped == [8101]
    assert calls[-1] == ["hosts", "port-8100"]


class TestCompose:
    def test_only_the_main_service_publishes_unless_another_is_named(self, tmp_path):
        repo = samples.compose_repo(tmp_path / "stack")
        text = (repo / "docker-compose.yml").read_text()
        (repo / "docker-compose.yml").write_text(
            text.replace("image: redis:7", 'image: redis:7\n    ports:\n      - "6379:6379"')
        )
        plan = check_compose(repo, "docker-compose.yml", labels={}, network="net")
        assert publish_only_routed(plan) == []
        services = plan.rewritten["services"]
        assert services["web"]["ports"]
        assert "ports" not in services["redis"] and services["redis"]["expose"] == ["6379"]

    def test_a_named_service_stays_published_for_its_route(self, tmp_path):
        repo = samples.compose_repo(tmp_path / "stack")
        text = (repo / "docker-compose.yml").read_text()
        (repo / "docker-compose.yml").write_text(
            text.replace("image: redis:7", 'image: redis:7\n    ports:\n      - "6379"')
            + "x-butler:\n  expose: [redis]\n"
        )
        plan = check_compose(repo, "docker-compose.yml", labels={}, network="net")
        assert publish_only_routed(plan) == ["redis"]
        assert plan.rewritten["services"]["redis"]["ports"]
        assert "x-butler" not in plan.rewritten


@pytest.mark.django_db
def test_health_says_when_the_proxy_is_down(client, settings, tmp_path):
    from deployments.proxy import reset_proxy

    settings.BUTLER_PROXY = "deployments.proxy.caddy.CaddyProxy"
    settings.BUTLER_CADDY_ADMIN = str(tmp_path / "nobody-listens.sock")
    reset_proxy()
    try:
        body = client.get("/health").json()
    finally:
        reset_proxy()
    assert body["status"] == "degraded"
    assert body["proxy"]["ok"] is False and "runbutler" in body["proxy"]["error"]

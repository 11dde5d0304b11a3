"""`/api/projects/{id}/domains` and the addresses the project API shows."""

from __future__ import annotations

import pytest

from projects.models import Domain
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _proxy(fake_proxy):
    return fake_proxy


@pytest.fixture
def shop(alice):
    return ProjectFactory(owner=alice, app_name="shop", public_port=8123, subdomain="shop")


def url(project, domain=""):
    return f"/api/projects/{project.id}/domains" + (f"/{domain}" if domain else "")


def test_the_answer_names_every_address(alice_client, shop, settings):
    settings.BUTLER_HTTP_PORT = 8080
    body = alice_client.get(url(shop)).json()
    assert body == {
        "project_id": shop.id,
        "url": "http://localhost:8123",
        "hostname": "shop.localhost",
        "http_url": "http://shop.localhost:8080",
        "domains": [],
    }


@pytest.mark.django_db(transaction=True)  # routes are pushed once the change commits
def test_a_domain_is_added_listed_and_removed_by_path_or_body(alice_client, shop, fake_proxy):
    added = alice_client.post(url(shop), {"domain": "WWW.My-Shop.test."}, format="json")
    assert added.status_code == 201, added.content
    [domain] = added.json()["domains"]
    assert domain["domain"] == "www.my-shop.test" and domain["https"] is False
    assert fake_proxy.table.by_host("www.my-shop.test").port == 8123
    again = alice_client.post(url(shop), {"domain": "www.my-shop.test"}, format="json")
    assert again.status_code == 200  # already there: nothing changes
    project = alice_client.get(f"/api/projects/{shop.id}").json()
    assert project["public_port"] == 8123 and project["hostname"] == "shop.localhost"
    assert [d["domain"] for d in project["domains"]] == ["www.my-shop.test"]

    gone = alice_client.delete(url(shop, "www.my-shop.test"))
    assert gone.status_code == 200 and gone.json()["domains"] == []
    assert fake_proxy.table.by_host("www.my-shop.test") is None
    alice_client.post(url(shop), {"domain": "api.my-shop.test"}, format="json")
    by_body = alice_client.delete(url(shop), {"domain": "api.my-shop.test"}, format="json")
    assert by_body.status_code == 200 and by_body.json()["domains"] == []
    missing = alice_client.delete(url(shop, "nope.my-shop.test"))
    assert missing.status_code == 404 and "nope.my-shop.test" in missing.json()["detail"]


def test_a_public_domain_gets_https(alice_client, shop):
    body = alice_client.post(url(shop), {"domain": "shop.example.org"}, format="json").json()
    assert body["domains"][0]["https"] is True


@pytest.mark.parametrize(
    "domain",
    [
        "not a host",
        "http://shop.example.org",
        "shop.example.org/path",
        "*.example.org",
        "nodots",
        "-bad.example.org",
        "1.2.3.4",
        "a" * 64 + ".example.org",
        "",
    ],
)
def test_an_invalid_name_is_refused_naming_it(alice_client, shop, domain):
    response = alice_client.post(url(shop), {"domain": domain}, format="json")
    assert response.status_code == 400
    if domain.strip():
        assert domain[:40] in response.json()["detail"]
    assert Domain.objects.count() == 0


@pytest.mark.parametrize("domain", ["localhost", "other.localhost", "butler.example.com"])
def test_butlers_own_host_is_refused(alice_client, shop, settings, domain):
    settings.ALLOWED_HOSTS = ["testserver", "butler.example.com"]
    response = alice_client.post(url(shop), {"domain": domain}, format="json")
    assert response.status_code == 400
    assert domain in response.json()["detail"] and "Butler's own" in response.json()["detail"]


def test_another_projects_domain_is_refused_whoever_owns_it(alice_client, bob_client, bob, shop):
    alice_client.post(url(shop), {"domain": "www.my-shop.test"}, format="json")
    theirs = ProjectFactory(owner=bob, app_name="copycat")
    response = bob_client.post(url(theirs), {"domain": "www.my-shop.test"}, format="json")
    assert response.status_code == 400
    assert "'www.my-shop.test' is already a domain of another project" in response.json()["detail"]
    assert "shop" not in response.json()["detail"].replace("my-shop", "")  # names no project


def test_another_users_project_is_a_404(bob_client, shop):
    assert bob_client.get(url(shop)).status_code == 404
    assert (
        bob_client.post(url(shop), {"domain": "x.my-shop.test"}, format="json").status_code == 404
    )
    assert bob_client.delete(url(shop, "x.my-shop.test")).status_code == 404
    assert Domain.objects.count() == 0


def test_a_project_not_yet_deployed_shows_no_address_yet(alice_client, alice):
    fresh = ProjectFactory(owner=alice)
    body = alice_client.get(f"/api/projects/{fresh.id}").json()
    assert body["public_port"] is None and body["hostname"] == "" and body["http_url"] == ""
    assert body["deployed_url"] == ""

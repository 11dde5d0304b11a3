import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from projects.models import Project
from tests.factories import ProjectFactory

FE = "https://github.com/user/react-app.git"
BE = "https://github.com/user/flask-api.git"


def import_single(client, **body):
    return client.post("/api/import", {"git_url": FE, **body}, format="json")


def import_split(client, **body):
    return client.post(
        "/api/import-split", {"frontend_url": FE, "backend_url": BE, **body}, format="json"
    )


@pytest.mark.django_db
class TestImport:
    def test_it_records_a_project_named_after_the_repository(self, alice_client, alice):
        response = import_single(alice_client)
        assert response.status_code == 201
        body = response.json()
        assert body["app_name"] == "react-app"
        assert body["status"] == "imported"
        assert body["project_type"] == "single"
        project = Project.objects.get(id=body["project_id"])
        assert project.owner == alice and project.git_url == FE

    def test_a_second_import_of_the_same_name_gets_a_suffix(self, alice_client):
        import_single(alice_client)
        assert import_single(alice_client).json()["app_name"] == "react-app-2"

    def test_a_taken_app_name_asked_for_explicitly_is_a_400(self, alice_client):
        import_single(alice_client, app_name="shop")
        response = import_single(alice_client, app_name="shop")
        assert response.status_code == 400
        assert "already have a project named 'shop'" in response.json()["app_name"][0]

    def test_names_are_per_owner(self, alice_client, bob_client):
        import_single(alice_client, app_name="shop")
        assert import_single(bob_client, app_name="shop").status_code == 201

    def test_branch_and_explicit_name_are_kept(self, alice_client):
        body = import_single(alice_client, app_name="My Shop", branch="release/1.2").json()
        assert (body["app_name"], body["branch"]) == ("my-shop", "release/1.2")

    @pytest.mark.parametrize(
        ("git_url", "reason"),
        [
            ("ext::sh -c id", "whitespace"),
            ("ext::sh", "transport"),
            ("-uhttps://x/y", "must not start with '-'"),
            ("file:///etc", "Local repositories are not allowed"),
            ("ftp://host/repo", "not supported"),
            ("https://github.com/user/repo\t", "whitespace"),
        ],
    )
    def test_a_url_that_is_not_allowed_is_a_400_naming_the_problem(
        self, alice_client, git_url, reason
    ):
        response = import_single(alice_client, git_url=git_url)
        assert response.status_code == 400
        assert reason in response.json()["git_url"][0]
        assert not Project.objects.exists()

    def test_a_bad_branch_is_a_400(self, alice_client):
        response = import_single(alice_client, branch="--upload-pack=x")
        assert response.status_code == 400
        assert "branch" in response.json()

    def test_a_missing_url_is_a_400(self, alice_client):
        response = alice_client.post("/api/import", {}, format="json")
        assert response.status_code == 400
        assert "git_url" in response.json()

    def test_anonymous_users_are_refused(self, anon_client):
        assert import_single(anon_client).status_code == 401


@pytest.mark.django_db
class TestImportSplit:
    def test_it_records_a_parent_and_both_components(self, alice_client):
        response = import_split(alice_client)
        assert response.status_code == 201
        body = response.json()
        assert body["app_name"] == "react-app-flask-api"
        assert body["status"] == "imported_split"
        assert body["git_url"] == f"split::{FE}|{BE}"
        assert body["project_type"] == "split"
        parent = Project.objects.get(id=body["project_id"])
        assert parent.parent is None and parent.component_type is None
        children = {c.component_type: c for c in parent.children.all()}
        assert children["frontend"].git_url == FE and children["frontend"].id == body["frontend_id"]
        assert children["backend"].git_url == BE and children["backend"].id == body["backend_id"]

    def test_either_bad_url_is_a_400_naming_it(self, alice_client):
        response = import_split(alice_client, backend_url="ext::sh")
        assert response.status_code == 400
        assert "backend_url" in response.json()
        response = import_split(alice_client, frontend_url="http://x/y")
        assert "frontend_url" in response.json()
        assert not Project.objects.exists()


@pytest.mark.django_db
class TestList:
    def test_it_lists_only_the_users_parent_projects_newest_first(self, alice_client, alice, bob):
        import_single(alice_client)
        import_split(alice_client)
        ProjectFactory(owner=bob)
        body = alice_client.get("/deployments").json()
        assert [p["app_name"] for p in body] == ["react-app-flask-api", "react-app"]
        assert set(body[0]) >= {
            "id",
            "container_name",
            "git_url",
            "status",
            "deployed_url",
            "created_at",
            "app_name",
            "project_type",
        }
        assert [p["project_type"] for p in body] == ["split", "single"]

    def test_the_query_count_does_not_grow_with_the_projects(self, alice_client, alice):
        ProjectFactory.create_batch(3, owner=alice)
        with CaptureQueriesContext(connection) as few:
            alice_client.get("/deployments")
        ProjectFactory.create_batch(30, owner=alice)
        with CaptureQueriesContext(connection) as many:
            alice_client.get("/deployments")
        assert len(few.captured_queries) == len(many.captured_queries)

    def test_it_is_paginated_in_headers(self, alice_client, alice):
        ProjectFactory.create_batch(5, owner=alice)
        response = alice_client.get("/deployments?page_size=2")
        assert len(response.json()) == 2
        assert response["X-Total-Count"] == "5"
        assert 'rel="next"' in response["Link"]
        last = alice_client.get("/deployments?page_size=2&page=3")
        assert len(last.json()) == 1 and 'rel="prev"' in last["Link"]

    def test_anonymous_users_are_refused(self, anon_client):
        assert anon_client.get("/deployments").status_code == 401


@pytest.mark.django_db
class TestComponentsRenameDelete:
    def test_components_lists_the_children(self, alice_client):
        parent_id = import_split(alice_client).json()["project_id"]
        body = alice_client.get(f"/projects/{parent_id}/components").json()
        assert sorted(c["component_type"] for c in body) == ["backend", "frontend"]
        assert all(c["parent_project_id"] == parent_id for c in body)

    def test_a_single_project_has_no_components(self, alice_client):
        project_id = import_single(alice_client).json()["project_id"]
        assert alice_client.get(f"/projects/{project_id}/components").json() == []

    def test_rename(self, alice_client):
        project_id = import_single(alice_client).json()["project_id"]
        response = alice_client.patch(
            f"/api/projects/{project_id}", {"app_name": "storefront"}, format="json"
        )
        assert response.status_code == 200
        assert Project.objects.get(id=project_id).app_name == "storefront"

    def test_rename_to_a_taken_or_empty_name_is_a_400(self, alice_client):
        import_single(alice_client, app_name="taken")
        project_id = import_single(alice_client).json()["project_id"]
        assert (
            alice_client.patch(
                f"/api/projects/{project_id}", {"app_name": "taken"}, format="json"
            ).status_code
            == 400
        )
        assert (
            alice_client.patch(
                f"/api/projects/{project_id}", {"app_name": "!!!"}, format="json"
            ).status_code
            == 400
        )
        assert (
            alice_client.patch(f"/api/projects/{project_id}", {}, format="json").status_code == 400
        )

    def test_delete_removes_the_project_and_its_components(self, alice_client):
        parent_id = import_split(alice_client).json()["project_id"]
        response = alice_client.delete(f"/projects/{parent_id}")
        assert response.status_code == 200
        assert "removed" in response.json()
        assert not Project.objects.exists()
        assert alice_client.delete(f"/projects/{parent_id}").status_code == 404

    def test_a_component_is_not_deleted_on_its_own(self, alice_client):
        parent_id = import_split(alice_client).json()["project_id"]
        child = Project.objects.filter(parent_id=parent_id).first()
        assert alice_client.delete(f"/projects/{child.id}").status_code == 404
        assert Project.objects.count() == 3


@pytest.mark.django_db
class TestAnotherUsersProject:
    """Every project endpoint answers 404 for someone else's project."""

    @pytest.fixture
    def alices_split(self, alice_client):
        return import_split(alice_client).json()["project_id"]

    def test_detail(self, bob_client, alices_split):
        assert bob_client.get(f"/api/projects/{alices_split}").status_code == 404

    def test_components(self, bob_client, alices_split):
        assert bob_client.get(f"/projects/{alices_split}/components").status_code == 404

    def test_rename(self, bob_client, alices_split):
        response = bob_client.patch(
            f"/api/projects/{alices_split}", {"app_name": "mine"}, format="json"
        )
        assert response.status_code == 404
        assert Project.objects.get(id=alices_split).app_name != "mine"

    def test_delete(self, bob_client, alices_split):
        assert bob_client.delete(f"/projects/{alices_split}").status_code == 404
        assert Project.objects.filter(id=alices_split).exists()

    def test_list(self, bob_client, alices_split):
        assert bob_client.get("/deployments").json() == []


@pytest.mark.django_db
class TestDeleteByName:
    """`DELETE /deployments/{name}` (by container name, app name or id)."""

    def test_it_deletes_by_container_name_app_name_or_id(self, alice_client, alice):
        by_container = ProjectFactory(owner=alice, container_name="user-shop-1a2b3c4d")
        by_app = ProjectFactory(owner=alice, app_name="blog")
        by_id = ProjectFactory(owner=alice)
        for name in ["user-shop-1a2b3c4d", "blog", str(by_id.id)]:
            assert alice_client.delete(f"/deployments/{name}").status_code == 200
        assert not Project.objects.filter(id__in=[by_container.id, by_app.id, by_id.id]).exists()

    def test_another_users_project_or_a_component_is_404(self, alice_client, bob_client, alice):
        ProjectFactory(owner=alice, app_name="blog")
        parent_id = import_split(alice_client).json()["project_id"]
        child = Project.objects.filter(parent_id=parent_id).first()
        assert bob_client.delete("/deployments/blog").status_code == 404
        assert alice_client.delete(f"/deployments/{child.app_name}").status_code == 404
        assert alice_client.delete("/deployments/nothing-here").status_code == 404
        assert Project.objects.count() == 4

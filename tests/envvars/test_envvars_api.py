"""The env var API: read, save, single keys, import/export, and who may do what."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from dotenv import dotenv_values

from envvars import selectors
from envvars.services import envvar_set, envvars_replace
from projects.models import Project
from tests.envvars.conftest import KEY_A, KEY_C
from tests.factories import EnvironmentVariableFactory

pytestmark = pytest.mark.django_db


def values(project) -> dict[str, str]:
    return selectors.envvars_list(project=project).variables


def save(client, project_id, variables, **extra):
    body = {"project_id": project_id, "variables": variables, **extra}
    return client.post("/api/env-vars", body, format="json")


class TestRead:
    def test_the_owner_sees_names_values_and_details_and_nothing_is_cached(
        self, alice_client, project
    ):
        envvar_set(project=project, key="DATABASE_URL", value="postgres://db")
        envvar_set(project=project, key="NEXT_PUBLIC_API", value="/api", is_build_time=True)
        response = alice_client.get(f"/api/env-vars?project_id={project.id}")
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]
        body = response.json()
        assert body["project_id"] == project.id
        assert body["variables"] == {"DATABASE_URL": "postgres://db", "NEXT_PUBLIC_API": "/api"}
        assert [(i["key"], i["value"], i["is_build_time"]) for i in body["items"]] == [
            ("DATABASE_URL", "postgres://db", False),
            ("NEXT_PUBLIC_API", "/api", True),
        ]
        assert all(item["updated_at"] for item in body["items"])
        assert body["errors"] == {} and body["redeploy_needed"] is False

    def test_an_unreadable_value_is_named_in_errors_and_the_rest_still_shows(
        self, settings, alice_client, project
    ):
        settings.BUTLER_ENCRYPTION_KEYS = [KEY_C]
        EnvironmentVariableFactory(project=project, key="OLD_SECRET", value="lost")
        settings.BUTLER_ENCRYPTION_KEYS = [KEY_A]
        envvar_set(project=project, key="FINE", value="ok")
        body = alice_client.get(f"/api/env-vars?project_id={project.id}").json()
        assert body["variables"] == {"FINE": "ok"}
        assert body["errors"] == {"OLD_SECRET": "could not be decrypted with the configured keys"}

    def test_a_component_of_a_multi_repo_project_has_its_own_set(self, alice_client, split_project):
        frontend = split_project.children.get(component_type="frontend")
        envvars_replace(project=split_project, variables={"SHARED": "s"})
        envvars_replace(project=frontend, variables={"API_URL": "http://api"})
        url = f"/api/env-vars?project_id={split_project.id}"
        fe = alice_client.get(url + "&component=frontend").json()
        be = alice_client.get(url + "&component=backend").json()
        parent = alice_client.get(url).json()
        assert (fe["component"], fe["variables"], fe["inherited"]) == (
            "frontend",
            {"API_URL": "http://api"},
            {"SHARED": "s"},
        )
        assert be["variables"] == {} and parent["variables"] == {"SHARED": "s"}

    def test_a_component_the_project_does_not_have_is_a_404(self, alice_client, project):
        response = alice_client.get(f"/api/env-vars?project_id={project.id}&component=frontend")
        assert response.status_code == 404
        assert "has no frontend component" in response.json()["detail"]

    def test_redeploy_needed_after_a_change_to_a_running_project(self, alice_client, project):
        Project.objects.filter(id=project.id).update(
            env_applied_at=timezone.now() - timedelta(minutes=1)
        )
        response = save(alice_client, project.id, {"A": "1"})
        assert response.json()["redeploy_needed"] is True
        assert alice_client.get(f"/api/env-vars?project_id={project.id}").json()["redeploy_needed"]


class TestSave:
    def test_it_saves_the_whole_set(self, alice_client, project):
        envvars_replace(project=project, variables={"GONE": "x", "KEPT": "1"})
        response = save(alice_client, project.id, {"KEPT": "2", "NEW": ""})
        assert response.status_code == 200
        body = response.json()
        assert body["message"] == "Environment variables saved" and body["count"] == 2
        assert body["redeploy_needed"] is False  # never deployed
        assert values(project) == {"KEPT": "2", "NEW": ""}

    def test_it_saves_a_components_set(self, alice_client, split_project):
        save(alice_client, split_project.id, {"DATABASE_URL": "pg://"}, component="backend")
        backend = split_project.children.get(component_type="backend")
        assert values(backend) == {"DATABASE_URL": "pg://"} and values(split_project) == {}

    @pytest.mark.parametrize(
        ("variables", "reason"),
        [
            ({"1BAD": "x"}, "Invalid key '1BAD'"),
            ({"OK": "x", "BAD-KEY": "y"}, "Invalid key 'BAD-KEY'"),
            ({"K" * 257: "x"}, "longer than 256 characters"),
            ({"BIG": "x" * 32769}, "The value of 'BIG' is larger than 32 KB"),
            ({"NUL": "a\u0000b"}, "The value of 'NUL' contains a null byte"),
            ({"PORT": 8080}, "The value of 'PORT' must be a string (got a number)"),
            ({"FLAG": True}, "The value of 'FLAG' must be a string (got a boolean)"),
            ({"NOTHING": None}, "The value of 'NOTHING' must be a string (got null)"),
            (["A=1"], "variables must be an object"),
            ("A=1", "variables must be an object"),
        ],
    )
    def test_bad_input_is_a_400_naming_the_key(self, alice_client, project, variables, reason):
        envvars_replace(project=project, variables={"BEFORE": "1"})
        response = save(alice_client, project.id, variables)
        assert response.status_code == 400
        assert reason in response.json()["detail"]
        assert "variables" in response.json()
        assert values(project) == {"BEFORE": "1"}

    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            ({"variables": {}}, "project_id is required"),
            ({"project_id": "abc", "variables": {}}, "project_id must be an integer"),
            ({"project_id": None, "variables": {}}, "project_id is required"),
        ],
    )
    def test_a_missing_or_bad_project_id_is_a_400(self, alice_client, body, reason):
        response = alice_client.post("/api/env-vars", body, format="json")
        assert response.status_code == 400 and reason in response.json()["detail"]

    def test_a_body_that_is_not_an_object_is_a_400(self, alice_client):
        response = alice_client.post("/api/env-vars", [1, 2], format="json")
        assert response.status_code == 400 and "JSON object" in response.json()["detail"]

    def test_a_missing_variables_field_is_a_400(self, alice_client, project):
        response = alice_client.post("/api/env-vars", {"project_id": project.id}, format="json")
        assert response.status_code == 400 and "variables is required" in response.json()["detail"]


class TestSingleKey:
    def test_put_creates_then_updates(self, alice_client, project):
        url = "/api/env-vars/STRIPE_KEY"
        created = alice_client.put(url, {"project_id": project.id, "value": "sk_1"}, format="json")
        assert created.status_code == 201 and created.json()["created"] is True
        body = {"project_id": project.id, "value": "sk_2", "is_build_time": True}
        updated = alice_client.put(url, body, format="json")
        assert updated.status_code == 200 and updated.json()["is_build_time"] is True
        assert values(project) == {"STRIPE_KEY": "sk_2"}

    def test_put_keeps_spaces_and_empty_values(self, alice_client, project):
        body = {"project_id": project.id, "value": "  padded  "}
        alice_client.put("/api/env-vars/PADDED", body, format="json")
        alice_client.put("/api/env-vars/EMPTY", {**body, "value": ""}, format="json")
        assert values(project) == {"PADDED": "  padded  ", "EMPTY": ""}

    def test_put_with_a_bad_key_or_value_is_a_400(self, alice_client, project):
        bad_key = alice_client.put(
            "/api/env-vars/1BAD", {"project_id": project.id, "value": "x"}, format="json"
        )
        assert bad_key.status_code == 400 and "Invalid key '1BAD'" in bad_key.json()["detail"]
        bad_value = alice_client.put(
            "/api/env-vars/OK", {"project_id": project.id, "value": 5}, format="json"
        )
        assert (
            bad_value.status_code == 400 and "value must be a string" in bad_value.json()["detail"]
        )
        missing = alice_client.put("/api/env-vars/OK", {"project_id": project.id}, format="json")
        assert missing.status_code == 400 and "value is required" in missing.json()["detail"]

    def test_delete_removes_one_and_an_unknown_key_is_a_404(self, alice_client, project):
        envvars_replace(project=project, variables={"A": "1", "B": "2"})
        response = alice_client.delete(f"/api/env-vars/A?project_id={project.id}")
        assert response.status_code == 200 and values(project) == {"B": "2"}
        again = alice_client.delete(f"/api/env-vars/A?project_id={project.id}")
        assert again.status_code == 404
        assert "no environment variable named 'A'" in again.json()["detail"]

    def test_variables_named_like_the_sub_paths_can_be_set_and_deleted(self, alice_client, project):
        for name in ("import", "export", "detect"):
            body = {"project_id": project.id, "value": name.upper()}
            assert alice_client.put(f"/api/env-vars/{name}", body, format="json").status_code == 201
        assert values(project) == {"import": "IMPORT", "export": "EXPORT", "detect": "DETECT"}
        response = alice_client.delete(f"/api/env-vars/import?project_id={project.id}")
        assert response.status_code == 200 and "import" not in values(project)


class TestImportExport:
    def test_import_a_dotenv_file_upload(self, alice_client, project):
        upload = SimpleUploadedFile(
            "prod.env", b"export API_URL=https://x\nSECRET='a b#c'\n", content_type="text/plain"
        )
        response = alice_client.post(
            "/api/env-vars/import", {"project_id": project.id, "file": upload}, format="multipart"
        )
        assert response.status_code == 200, response.json()
        assert response.json()["imported"] == 2 and response.json()["created"] == 2
        assert values(project) == {"API_URL": "https://x", "SECRET": "a b#c"}

    def test_import_json_content_with_replace(self, alice_client, project):
        envvars_replace(project=project, variables={"OLD": "1"})
        body = {"project_id": project.id, "content": "NEW=2\n", "replace": True}
        response = alice_client.post("/api/env-vars/import", body, format="json")
        assert response.status_code == 200 and response.json()["removed"] == 1
        assert values(project) == {"NEW": "2"}

    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            ("GOOD=1\n1BAD=2\n", "Invalid key '1BAD'"),
            ("A=1\n=nokey\n", "could not be read at line 2"),
        ],
    )
    def test_a_bad_dotenv_is_a_400_saying_where(self, alice_client, project, content, reason):
        body = {"project_id": project.id, "content": content}
        response = alice_client.post("/api/env-vars/import", body, format="json")
        assert response.status_code == 400 and reason in response.json()["detail"]
        assert values(project) == {}

    def test_a_non_utf8_file_or_no_file_is_a_400(self, alice_client, project):
        upload = SimpleUploadedFile("x.env", b"A=\xff\xfe\n")
        response = alice_client.post(
            "/api/env-vars/import", {"project_id": project.id, "file": upload}, format="multipart"
        )
        assert response.status_code == 400 and "not UTF-8" in response.json()["detail"]
        response = alice_client.post(
            "/api/env-vars/import", {"project_id": project.id}, format="json"
        )
        assert response.status_code == 400 and "file" in response.json()["detail"]

    def test_export_downloads_a_dotenv_named_after_the_app_that_reads_back(
        self, alice_client, project
    ):
        variables = {"MULTI": "a\nb", "QUOTE": 'it\'s "x"', "HASH": "#x", "PLAIN": "p"}
        envvars_replace(project=project, variables=variables)
        response = alice_client.get(f"/api/env-vars/export?project_id={project.id}")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        assert response["Content-Disposition"] == 'attachment; filename="shop.env"'
        assert "no-store" in response["Cache-Control"]
        text = response.content.decode()
        assert dotenv_values(stream=io.StringIO(text), interpolate=False) == variables

    def test_export_of_a_component_is_named_after_it(self, alice_client, split_project):
        url = f"/api/env-vars/export?project_id={split_project.id}&component=backend"
        response = alice_client.get(url)
        name = split_project.children.get(component_type="backend").app_name
        assert response["Content-Disposition"] == f'attachment; filename="{name}.env"'


ENDPOINTS = [
    ("get", "/api/env-vars?project_id={id}", None),
    ("post", "/api/env-vars", {"project_id": "{id}", "variables": {"HACKED": "1"}}),
    ("put", "/api/env-vars/DATABASE_URL", {"project_id": "{id}", "value": "evil"}),
    ("delete", "/api/env-vars/DATABASE_URL?project_id={id}", None),
    ("post", "/api/env-vars/import", {"project_id": "{id}", "content": "HACKED=1"}),
    ("get", "/api/env-vars/export?project_id={id}", None),
    ("get", "/api/env-vars/detect?project_id={id}", None),
]


def call(client, method, url, body, project_id):
    url = url.replace("{id}", str(project_id))
    if body is None:
        return getattr(client, method)(url)
    body = {k: (project_id if v == "{id}" else v) for k, v in body.items()}
    return getattr(client, method)(url, body, format="json")


@pytest.mark.parametrize(("method", "url", "body"), ENDPOINTS)
def test_another_users_project_is_a_404_and_stays_untouched(bob_client, project, method, url, body):
    envvars_replace(project=project, variables={"DATABASE_URL": "postgres://alice"})
    response = call(bob_client, method, url, body, project.id)
    assert response.status_code == 404
    assert "postgres://alice" not in response.content.decode()
    assert values(project) == {"DATABASE_URL": "postgres://alice"}


@pytest.mark.parametrize(("method", "url", "body"), ENDPOINTS)
def test_anonymous_users_are_refused(anon_client, project, method, url, body):
    envvars_replace(project=project, variables={"DATABASE_URL": "postgres://alice"})
    response = call(anon_client, method, url, body, project.id)
    assert response.status_code == 401
    assert values(project) == {"DATABASE_URL": "postgres://alice"}


@pytest.mark.parametrize(("method", "url", "body"), [e for e in ENDPOINTS if "detect" not in e[1]])
def test_a_missing_project_id_is_a_400(alice_client, method, url, body):
    url = url.replace("?project_id={id}", "")
    if body is None:
        response = getattr(alice_client, method)(url)
    else:
        body = {k: v for k, v in body.items() if k != "project_id"}
        response = getattr(alice_client, method)(url, body, format="json")
    assert response.status_code == 400
    assert "project_id is required" in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/env-vars?project_id=abc"),
        ("delete", "/api/env-vars/A?project_id=1.5"),
        ("get", "/api/env-vars/export?project_id=abc"),
        ("get", "/api/env-vars/detect?project_id=abc"),
    ],
)
def test_a_project_id_that_is_not_a_number_is_a_400(alice_client, method, url):
    response = getattr(alice_client, method)(url)
    assert response.status_code == 400
    assert "project_id must be an integer" in response.json()["detail"]


@pytest.mark.django_db
class TestCaps:
    def test_ten_thousand_variables_in_one_request_are_refused_at_once(self, alice_client, alice):
        import time

        from envvars.models import EnvironmentVariable
        from tests.factories import ProjectFactory

        project = ProjectFactory(owner=alice)
        variables = {f"VAR_{n}": "x" for n in range(10_000)}
        started = time.monotonic()
        response = alice_client.post(
            "/api/env-vars", {"project_id": project.id, "variables": variables}, format="json"
        )
        assert response.status_code == 400
        assert "at most 500 environment variables" in response.json()["detail"]
        assert time.monotonic() - started < 5
        assert not EnvironmentVariable.objects.filter(project=project).exists()

    def test_the_cap_counts_what_the_project_already_has(self, alice_client, alice, settings):
        from tests.factories import ProjectFactory

        settings.BUTLER_MAX_ENV_VARS = 3
        project = ProjectFactory(owner=alice)
        for key in ("A", "B", "C"):
            put = alice_client.put(
                f"/api/env-vars/{key}", {"project_id": project.id, "value": "v"}, format="json"
            )
            assert put.status_code == 201
        fourth = alice_client.put(
            "/api/env-vars/D", {"project_id": project.id, "value": "v"}, format="json"
        )
        assert fourth.status_code == 400 and "at most 3" in fourth.json()["detail"]
        changed = alice_client.put(
            "/api/env-vars/A", {"project_id": project.id, "value": "w"}, format="json"
        )
        assert changed.status_code == 200  # changing one is fine

    def test_the_total_size_is_capped(self, alice_client, alice, settings):
        from tests.factories import ProjectFactory

        settings.BUTLER_MAX_ENV_BYTES = 1024
        project = ProjectFactory(owner=alice)
        response = alice_client.post(
            "/api/env-vars",
            {"project_id": project.id, "variables": {"A": "x" * 600, "B": "y" * 600}},
            format="json",
        )
        assert response.status_code == 400 and "at most 1 KB" in response.json()["detail"]

"""Env vars end to end: detected from a repo, set through the API, read by the deployed app."""

from __future__ import annotations

import io

import pytest
import requests

from tests import samples
from tests.deployments.test_pipeline_docker import assert_nothing_left, deploy, detail, log_text

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


def django_reading_env(path):
    repo = samples.django_repo(path)
    (repo / "mysite" / "settings.py").write_text(
        (repo / "mysite" / "settings.py").read_text()
        + '\nGREETING = os.environ.get("GREETING", "none")\n'
    )
    (repo / "mysite" / "views.py").write_text(
        "from django.conf import settings\n"
        "from django.http import HttpResponse\n\n\n"
        "def index(request):\n"
        "    key_from_env = settings.SECRET_KEY != 'insecure-sample-key'\n"
        '    return HttpResponse(f"greeting={settings.GREETING} key-from-env={key_from_env}")\n'
    )
    samples._commit(repo, "read env vars")
    return repo


def test_detect_import_set_deploy_and_the_app_reads_them(alice_client, repos):
    repo = django_reading_env(repos / "mysite")
    project_id = alice_client.post("/api/import", {"git_url": str(repo)}, format="json").json()[
        "project_id"
    ]

    detected = alice_client.get(f"/api/env-vars/detect?project_id={project_id}").json()
    assert {"DJANGO_SECRET_KEY", "GREETING"} <= set(detected["suggestions"]), detected
    found = detected["suggestions"]["DJANGO_SECRET_KEY"]
    assert found["detected_from"] == "mysite/settings.py" and found["is_set"] is False

    # "Import all" with empty values, then fill them in.
    names = {name: "" for name in detected["suggestions"]}
    assert (
        alice_client.post(
            "/api/env-vars", {"project_id": project_id, "variables": names}, format="json"
        ).status_code
        == 200
    )
    values = {**names, "DJANGO_SECRET_KEY": "s3cret-" + "x" * 40, "GREETING": "bonjour"}
    alice_client.post(
        "/api/env-vars", {"project_id": project_id, "variables": values}, format="json"
    )

    body = deploy(alice_client, project_id=project_id)
    deployment = detail(alice_client, body["deployment_id"])
    assert deployment["status"] == "running", deployment["error"]
    assert (
        requests.get(deployment["deployed_url"], timeout=10).text
        == "greeting=bonjour key-from-env=True"
    )
    assert "s3cret-" not in log_text(alice_client, body["deployment_id"])
    assert (
        alice_client.get(f"/api/env-vars?project_id={project_id}").json()["redeploy_needed"]
        is False
    )

    # A change takes effect at the next deploy; until then the API says a redeploy is needed.
    alice_client.put(
        "/api/env-vars/GREETING", {"project_id": project_id, "value": "hola"}, format="json"
    )
    assert (
        alice_client.get(f"/api/env-vars?project_id={project_id}").json()["redeploy_needed"] is True
    )
    assert "bonjour" in requests.get(deployment["deployed_url"], timeout=10).text
    again = detail(alice_client, deploy(alice_client, project_id=project_id)["deployment_id"])
    assert requests.get(again["deployed_url"], timeout=10).text.startswith("greeting=hola")
    assert (
        alice_client.get(f"/api/env-vars?project_id={project_id}").json()["redeploy_needed"]
        is False
    )

    alice_client.delete(f"/projects/{project_id}")
    assert_nothing_left(project_id)


def test_deploy_form_env_files_go_to_each_component(alice_client, repos):
    frontend, backend = samples.split_pair(repos / "web", repos / "api")
    response = alice_client.post(
        "/deploy",
        {
            "deploy_type": "split",
            "frontend_url": str(frontend),
            "backend_url": str(backend),
            "frontend_env": io.BytesIO(b"THEME=dark\n"),
            "backend_env": io.BytesIO(b'export DATABASE_URL="sqlite:///db.sqlite3"\n'),
        },
    )
    assert response.status_code == 202, response.content
    body = response.json()
    components = {
        c["component_type"]: c["id"]
        for c in alice_client.get(f"/projects/{body['project_id']}/components").json()
    }
    front_vars = alice_client.get(f"/api/env-vars?project_id={components['frontend']}").json()[
        "variables"
    ]
    back_vars = alice_client.get(f"/api/env-vars?project_id={components['backend']}").json()[
        "variables"
    ]
    assert front_vars == {"THEME": "dark"}
    assert back_vars == {"DATABASE_URL": "sqlite:///db.sqlite3"}
    for name in ("frontend", "backend"):
        assert detail(alice_client, body["deployment_ids"][name])["status"] == "running"
    alice_client.delete(f"/projects/{body['project_id']}")
    for project_id in [body["project_id"], *components.values()]:
        assert_nothing_left(project_id)

"""GET /api/env-vars/detect over real Git repositories the tests create."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from envvars.services import envvar_set
from projects.services import project_import, project_import_split
from tests.envvars.conftest import git_repo

pytestmark = pytest.mark.django_db

FRONTEND_FILES = {
    "package.json": '{"name": "web", "scripts": {"build": "next build"}}',
    "next.config.js": "module.exports = { env: { API: process.env.NEXT_PUBLIC_API_URL } }",
    "pages/index.js": "const key = process.env.STRIPE_PUBLIC_KEY || 'pk_test';\nprocess.env.NODE_ENV",
}
BACKEND_FILES = {
    "app.py": 'import os\nDB = os.getenv("DATABASE_URL", "sqlite:///db")\nKEY = os.environ["SECRET_KEY"]',
    ".env.example": "SECRET_KEY=change-me\nSENTRY_DSN=\n",
    "main.go": 'package main\nimport "os"\nfunc main() { os.Getenv("GO_ONLY") }',
}


def detect(client, **params):
    return client.get(f"/api/env-vars/detect?{urlencode(params)}")


def no_clones_left(settings) -> bool:
    work = settings.BUTLER_WORK_DIR
    return not work.exists() or not any(p.name.startswith("detect-") for p in work.iterdir())


def test_it_suggests_what_a_repository_reads(alice_client, local_git_root, settings):
    repo = git_repo(local_git_root / "api", BACKEND_FILES)
    response = detect(alice_client, git_url=str(repo))
    assert response.status_code == 200
    body = response.json()
    assert "error" not in body and body["truncated"] is False and body["scanned_files"] == 3
    suggestions = body["suggestions"]
    assert set(suggestions) == {"DATABASE_URL", "SECRET_KEY", "SENTRY_DSN", "GO_ONLY"}
    assert suggestions["SECRET_KEY"] == {
        "detected_from": ".env.example",
        "source": ".env.example",
        "component": None,
        "components": [None],
        "priority": 10,
        "default": "change-me",
        "is_set": False,
        "build_time": False,
        "description": None,
    }
    db = suggestions["DATABASE_URL"]
    assert (db["detected_from"], db["source"], db["priority"], db["default"]) == (
        "app.py",
        "os.getenv",
        5,
        "sqlite:///db",
    )
    assert no_clones_left(settings)


def test_frontend_and_backend_urls_are_scanned_as_components(alice_client, local_git_root):
    fe = git_repo(local_git_root / "web", FRONTEND_FILES)
    be = git_repo(local_git_root / "api", BACKEND_FILES)
    suggestions = detect(alice_client, frontend_url=str(fe), backend_url=str(be)).json()[
        "suggestions"
    ]
    assert suggestions["NEXT_PUBLIC_API_URL"]["component"] == "frontend"
    assert suggestions["NEXT_PUBLIC_API_URL"]["priority"] == 10
    assert suggestions["STRIPE_PUBLIC_KEY"]["default"] == "pk_test"
    assert suggestions["DATABASE_URL"]["component"] == "backend"
    assert "NODE_ENV" not in suggestions


def test_a_multi_repo_project_is_scanned_and_says_what_is_already_set(
    alice, alice_client, local_git_root
):
    fe = git_repo(local_git_root / "web", FRONTEND_FILES)
    be = git_repo(local_git_root / "api", BACKEND_FILES)
    parent = project_import_split(owner=alice, frontend_url=str(fe), backend_url=str(be))
    backend = parent.children.get(component_type="backend")
    envvar_set(project=backend, key="DATABASE_URL", value="postgres://db")
    envvar_set(project=parent, key="SENTRY_DSN", value="https://sentry")  # shared

    body = detect(alice_client, project_id=parent.id).json()
    suggestions = body["suggestions"]
    assert suggestions["DATABASE_URL"]["is_set"] is True
    assert suggestions["SENTRY_DSN"]["is_set"] is True
    assert suggestions["SECRET_KEY"]["is_set"] is False
    assert suggestions["NEXT_PUBLIC_API_URL"]["component"] == "frontend"
    assert suggestions["NEXT_PUBLIC_API_URL"]["is_set"] is False

    only_frontend = detect(alice_client, project_id=parent.id, component="frontend").json()
    assert {s["component"] for s in only_frontend["suggestions"].values()} == {"frontend"}


def test_a_single_project_is_scanned_from_its_url(alice, alice_client, local_git_root):
    repo = git_repo(local_git_root / "api", BACKEND_FILES)
    project = project_import(owner=alice, git_url=str(repo))
    envvar_set(project=project, key="SECRET_KEY", value="s")
    suggestions = detect(alice_client, project_id=project.id).json()["suggestions"]
    assert suggestions["SECRET_KEY"]["is_set"] and not suggestions["GO_ONLY"]["is_set"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ext::sh -c touch% /tmp/pwned", "whitespace"),
        ("ext::sh", "transport is not allowed"),
        ("http://example.com/x.git", "not supported"),
        ("/etc", "outside the folders allowed"),
    ],
)
def test_a_refused_url_is_a_200_with_an_error_and_no_suggestions(
    alice_client, local_git_root, url, reason
):
    response = detect(alice_client, git_url=url)
    assert response.status_code == 200
    body = response.json()
    assert body["suggestions"] == {} and reason in body["error"]


def test_an_unreachable_repository_is_a_200_with_an_error(alice_client, local_git_root, settings):
    not_a_repo = local_git_root / "empty-folder"
    not_a_repo.mkdir()
    body = detect(alice_client, git_url=str(not_a_repo)).json()
    assert body["suggestions"] == {} and "not reachable" in body["error"]
    assert no_clones_left(settings)


def test_one_failing_component_still_gives_the_others_suggestions(alice_client, local_git_root):
    fe = git_repo(local_git_root / "web", FRONTEND_FILES)
    body = detect(alice_client, frontend_url=str(fe), backend_url="ext::sh").json()
    assert "NEXT_PUBLIC_API_URL" in body["suggestions"]
    assert body["error"].startswith("backend: ") and set(body["errors"]) == {"backend"}


def test_a_spent_time_budget_says_it_stopped_early(alice_client, local_git_root, settings):
    repo = git_repo(local_git_root / "api", BACKEND_FILES)
    settings.BUTLER_DETECT_TIME_BUDGET = 0.0
    body = detect(alice_client, git_url=str(repo)).json()
    assert body["truncated"] is True and "stopped" in body["warning"]


def test_nothing_to_scan_is_a_400(alice_client):
    response = detect(alice_client)
    assert response.status_code == 400
    assert "git_url" in response.json()["detail"]


def test_another_users_project_is_a_404_before_anything_is_cloned(
    bob_client, alice, local_git_root, monkeypatch
):
    repo = git_repo(local_git_root / "api", BACKEND_FILES)
    project = project_import(owner=alice, git_url=str(repo))
    import gitsources

    monkeypatch.setattr(gitsources, "clone", lambda **kw: pytest.fail("cloned for another user"))
    assert detect(bob_client, project_id=project.id).status_code == 404
    assert detect(bob_client, git_url=str(repo), project_id=project.id).status_code == 404


def test_anonymous_users_are_refused(anon_client):
    assert detect(anon_client, git_url="https://github.com/x/y.git").status_code == 401

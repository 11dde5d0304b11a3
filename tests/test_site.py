"""Site-wide behaviour: settings from the environment, OpenAPI, admin."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import ProjectFactory, UserFactory

ROOT = Path(settings.BASE_DIR)


def run_manage(args, data_dir, **env):
    clean = {
        k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DJANGO_SETTINGS_MODULE"}
    }
    clean.update(
        {"BUTLER_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "butler_site.settings", **env}
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_secret_key_is_generated_once_into_the_data_dir(tmp_path):
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = run_manage(["shell", "--no-imports", "-c", code], tmp_path)
    second = run_manage(["shell", "--no-imports", "-c", code], tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and len(first.stdout.strip()) >= 50
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    from_env = run_manage(["shell", "--no-imports", "-c", code], tmp_path, SECRET_KEY="x" * 60)
    assert from_env.stdout.strip() == "x" * 60


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    code = (
        "from django.db import connection; c = connection.cursor();"
        "print(c.execute('PRAGMA journal_mode').fetchone()[0], c.execute('PRAGMA busy_timeout').fetchone()[0])"
    )
    result = run_manage(["shell", "--no-imports", "-c", code], tmp_path)
    assert result.returncode == 0, result.stderr
    mode, timeout = result.stdout.split()
    assert mode == "wal" and int(timeout) >= 5000


def test_check_deploy_passes_with_production_settings(tmp_path):
    result = run_manage(
        ["check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        SECRET_KEY="k" * 30 + "Q9!x" * 10,
        SECURE_SSL_REDIRECT="1",
        SECURE_COOKIES="1",
        SECURE_HSTS_SECONDS="31536000",
        ALLOWED_HOSTS="butler.example.com",
        DEBUG="0",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_debug_is_off_by_default():
    from butler_site import settings as production

    assert os.environ.get("DEBUG") or production.DEBUG is False


@pytest.mark.django_db
def test_the_openapi_schema_describes_the_api(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = response.content.decode()
    for path in [
        "/api/auth/login",
        "/api/import",
        "/api/import-split",
        "/deployments",
        "/api/user/profile",
    ]:
        assert f"{path}:" in schema
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


@pytest.mark.django_db
class TestAdmin:
    @pytest.fixture
    def admin_client(self, client):
        admin = UserFactory(username="root", is_staff=True, is_superuser=True)
        client.force_login(admin)
        return client

    def test_projects_are_listed_searchable_and_filterable(self, admin_client):
        ProjectFactory(app_name="shop-front")
        ProjectFactory(app_name="blog", status="failed")
        page = admin_client.get("/admin/projects/project/?q=shop").content.decode()
        assert "shop-front" in page and "blog" not in page
        page = admin_client.get("/admin/projects/project/?status__exact=failed").content.decode()
        assert "blog" in page and "shop-front" not in page

    def test_a_parent_shows_its_components_inline(self, admin_client):
        parent = ProjectFactory(app_name="pair", git_url="split::https://h/a/fe|https://h/a/be")
        ProjectFactory(
            owner=parent.owner, parent=parent, component_type="frontend", app_name="pair-frontend"
        )
        page = admin_client.get(f"/admin/projects/project/{parent.id}/change/").content.decode()
        assert "pair-frontend" in page

    def test_users_are_listed_and_searchable(self, admin_client):
        UserFactory(username="zelda")
        page = admin_client.get("/admin/accounts/user/?q=zelda").content.decode()
        assert "zelda" in page


@pytest.fixture
def docker_down(monkeypatch):
    """The real runtime, pointed at a socket where no engine answers."""
    from deployments.runtime import reset_runtime

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    reset_runtime()
    yield
    monkeypatch.undo()
    reset_runtime()


@pytest.mark.django_db
class TestHealth:
    @pytest.mark.docker
    def test_it_reports_the_database_and_the_engine(self, client):
        body = client.get("/health").json()
        assert body["status"] == "healthy"
        assert body["database"]["ok"] is True
        assert body["docker"]["ok"] is True and body["docker"]["server_version"]

    def test_it_answers_when_docker_is_down(self, client, docker_down):
        response = client.get("/health")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "degraded"
        assert body["database"]["ok"] is True
        assert body["docker"]["ok"] is False
        assert "not reachable" in body["docker"]["error"]


@pytest.mark.django_db
def test_the_admin_shows_deployments_with_their_log(client):
    from deployments.models import Deployment, LogLine

    client.force_login(UserFactory(username="root2", is_staff=True, is_superuser=True))
    project = ProjectFactory(app_name="shop")
    deployment = Deployment.objects.create(
        project=project, number=1, trace_id="trace-abc", git_url="x", status="failed"
    )
    LogLine.objects.create(
        deployment=deployment, seq=1, stream="error", text="The build failed: <boom>"
    )
    page = client.get("/admin/deployments/deployment/?status__exact=failed&q=shop").content.decode()
    assert "shop #1" in page
    detail = client.get(f"/admin/deployments/deployment/{deployment.id}/change/").content.decode()
    assert "The build failed: &lt;boom&gt;" in detail

"""The pages outside a project through Django's test client: what they show, the errors they
put next to the field, what they refuse, and how many queries they make."""

from __future__ import annotations

import hashlib
import html
import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from deployments.models import Deployment, Release
from projects.models import Project
from tests.conftest import PASSWORD
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_page(client, alice):
    client.force_login(alice)
    return client


def deploy_record(project, number=1, status=Deployment.Status.RUNNING):
    release = Release.objects.create(
        project=project, number=number, image_tag=f"butler/{project.app_name}:v{number}"
    )
    now = timezone.now()
    return Deployment.objects.create(
        project=project,
        number=number,
        trace_id=f"t-{project.id}-{number}",
        git_url=project.git_url,
        status=status,
        release=release,
        started_at=now,
        finished_at=now,
    )


def field_error(page: str, field: str) -> str:
    match = re.search(rf'id="id_{field}-error">(.*?)</div>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip() if match else ""


def make_projects(owner, n: int) -> list[Project]:
    projects = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            project = ProjectFactory(owner=owner, status=Project.Status.RUNNING)
            project.deployed_url = f"http://localhost:{8100 + i}"
            project.save(update_fields=["deployed_url"])
            deploy_record(project)
        elif kind == 1:
            project = ProjectFactory(
                owner=owner,
                git_url=f"split::https://x/fe{i}.git|https://x/be{i}.git",
                status=Project.Status.IMPORTED_SPLIT,
            )
            for component in ("frontend", "backend"):
                child = ProjectFactory(
                    owner=owner,
                    parent=project,
                    component_type=component,
                    app_name=f"{project.app_name}-{component}",
                )
                deploy_record(child)
        else:
            project = ProjectFactory(owner=owner, status=Project.Status.FAILED)
        projects.append(project)
    return projects


class TestDashboard:
    def test_it_needs_a_session(self, client):
        response = client.get("/")
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]

    def test_the_empty_state_says_what_to_do_next(self, alice_page):
        page = alice_page.get("/").content.decode()
        assert "No projects yet" in page and 'href="/new/"' in page
        assert re.search(r'id="empty-state"(?! hidden)', page)

    def test_one_card_per_top_level_project_with_its_kind_status_and_last_deploy(
        self, alice_page, alice, bob
    ):
        running, pair, failed = make_projects(alice, 3)
        ProjectFactory(owner=bob, app_name="bobs-secret")
        page = alice_page.get("/").content.decode()
        assert page.count('class="card project-card"') == 3
        assert "bobs-secret" not in page
        assert f"{pair.app_name}-frontend" not in page  # components are not cards
        card = page.split(f'id="project-{pair.id}"')[1].split("</li>")[0]
        assert "Multi-Repository" in card and "Last deploy" in card
        card = page.split(f'id="project-{running.id}"')[1].split("</li>")[0]
        assert "Single Repository" in card and ">Running<" in card and "badge-running" in card
        assert re.search(r'data-open-site href="http://localhost:\d+"', card)
        assert "hidden>Open Site" not in card
        card = page.split(f'id="project-{failed.id}"')[1].split("</li>")[0]
        assert ">Failed<" in card and "Never deployed" in card
        assert "data-open-site" in card and "hidden>Open Site" in card

    @pytest.mark.parametrize("n", [1, 200])
    def test_a_fixed_number_of_queries_however_many_projects(
        self, alice_page, alice, n, django_assert_max_num_queries
    ):
        make_projects(alice, n)
        with django_assert_max_num_queries(4):
            response = alice_page.get("/")
        assert response.content.decode().count('class="card project-card"') == n


class TestNewDeploy:
    def test_a_bad_url_is_an_error_next_to_the_field(self, alice_page):
        response = alice_page.post("/new/", {"kind": "single", "git_url": "ftp://nope/x.git"})
        assert response.status_code == 200
        assert field_error(response.content.decode(), "git_url")
        assert not Project.objects.exists()

    def test_missing_urls_of_a_multi_repository_project(self, alice_page):
        page = alice_page.post("/new/", {"kind": "split", "frontend_url": ""}).content.decode()
        assert "Enter the Git URL" in field_error(page, "frontend_url")
        assert "Enter the Git URL" in field_error(page, "backend_url")

    def test_a_taken_name_is_an_error_next_to_the_name(self, alice_page, alice, settings, tmp_path):
        ProjectFactory(owner=alice, app_name="shop")
        settings.BUTLER_LOCAL_GIT_ROOTS = [str(tmp_path)]
        page = alice_page.post(
            "/new/", {"kind": "single", "git_url": str(tmp_path), "app_name": "shop"}
        ).content.decode()
        assert "already have a project named 'shop'" in field_error(page, "app_name")

    def test_import_single_then_multi_redirects_to_the_deploy_page(
        self, alice_page, alice, settings, tmp_path
    ):
        settings.BUTLER_LOCAL_GIT_ROOTS = [str(tmp_path)]
        (tmp_path / "fe").mkdir()
        (tmp_path / "be").mkdir()
        response = alice_page.post(
            "/new/", {"kind": "single", "git_url": str(tmp_path / "fe"), "branch": "main"}
        )
        project = Project.objects.get(owner=alice, parent=None, git_url=str(tmp_path / "fe"))
        assert response.status_code == 302 and response["Location"] == f"/apps/{project.id}/"
        assert project.status == "imported" and project.branch == "main"
        response = alice_page.post(
            "/new/",
            {
                "kind": "split",
                "frontend_url": str(tmp_path / "fe"),
                "backend_url": str(tmp_path / "be"),
                "app_name": "pair",
            },
        )
        pair = Project.objects.get(owner=alice, app_name="pair")
        assert response["Location"] == f"/apps/{pair.id}/"
        assert pair.project_type == "split" and pair.children.count() == 2


class TestRenameAndDelete:
    def test_another_users_project_is_not_found(self, alice_page, bob):
        theirs = ProjectFactory(owner=bob)
        for path in (f"/apps/{theirs.id}/rename/", f"/apps/{theirs.id}/delete/"):
            assert alice_page.get(path).status_code == 404
            assert alice_page.post(path, {"app_name": "mine"}).status_code == 404
        assert Project.objects.filter(id=theirs.id, app_name=theirs.app_name).exists()

    def test_rename_without_javascript_posts_and_redirects(self, alice_page, alice):
        project = ProjectFactory(owner=alice, app_name="old")
        ProjectFactory(owner=alice, app_name="taken")
        page = alice_page.post(f"/apps/{project.id}/rename/", {"app_name": "taken"})
        assert "already have a project" in field_error(page.content.decode(), "app_name")
        response = alice_page.post(f"/apps/{project.id}/rename/", {"app_name": "New Name"})
        assert response.status_code == 302 and response["Location"] == "/"
        project.refresh_from_db()
        assert project.app_name == "new-name"

    def test_rename_through_htmx_answers_the_form_or_what_changed(self, alice_page, alice):
        project = ProjectFactory(owner=alice, app_name="old")
        page = alice_page.get(f"/apps/{project.id}/rename/", HTTP_HX_REQUEST="true")
        assert b"<html" not in page.content and b'value="old"' in page.content
        response = alice_page.post(
            f"/apps/{project.id}/rename/", {"app_name": "fresh"}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 204
        trigger = json.loads(response["HX-Trigger"])
        assert trigger["butler:renamed"] == {"id": project.id, "name": "fresh"}

    def test_the_delete_confirmation_lists_what_goes(
        self, alice_page, alice, fake_runtime, fake_proxy
    ):
        [_, pair, _] = make_projects(alice, 3)
        child = pair.children.get(component_type="backend")
        child.container_name = "butler-pair-backend"
        child.save()
        page = alice_page.get(f"/apps/{pair.id}/delete/", HTTP_HX_REQUEST="true").content.decode()
        assert f"{pair.app_name}-frontend" in page and f"{pair.app_name}-backend" in page
        assert "butler-pair-backend" in page
        assert f"butler/{pair.app_name}-backend:v1" in page
        assert "2 deployments" in page
        response = alice_page.post(f"/apps/{pair.id}/delete/")
        assert response.status_code == 302
        assert not Project.objects.filter(id__in=[pair.id, child.id]).exists()

    def test_a_get_never_deletes(self, alice_page, alice):
        project = ProjectFactory(owner=alice)
        alice_page.get(f"/apps/{project.id}/delete/")
        assert Project.objects.filter(id=project.id).exists()


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, format="PNG")
    return out.getvalue()


class TestSettings:
    def test_profile_errors_sit_next_to_their_fields(self, alice_page, bob):
        page = alice_page.post(
            "/settings/",
            {
                "username": bob.username,
                "email": "x@example.com",
                "avatar": SimpleUploadedFile("a.png", b"no image"),
            },
        ).content.decode()
        assert "not a readable image" in field_error(page, "avatar")
        page = alice_page.post(
            "/settings/", {"username": bob.username, "email": "x@example.com"}
        ).content.decode()
        assert "already exists" in field_error(page, "username")

    def test_avatar_upload_display_and_removal(self, alice_page, alice, settings, tmp_path):
        settings.MEDIA_ROOT = tmp_path
        response = alice_page.post(
            "/settings/",
            {
                "username": alice.username,
                "email": alice.email,
                "avatar": SimpleUploadedFile("me.png", png(), content_type="image/png"),
            },
        )
        assert response.status_code == 302
        alice.refresh_from_db()
        assert alice.avatar and (tmp_path / "avatars" / alice.avatar).exists()
        assert alice.avatar_url in alice_page.get("/settings/").content.decode()
        alice_page.post("/settings/avatar/remove/")
        alice.refresh_from_db()
        assert alice.avatar == ""

    def test_password_change_checks_on_the_server(self, alice_page, alice):
        page = alice_page.post(
            "/settings/password/",
            {"current_password": "wrong", "new_password": "x", "confirm_password": "x"},
        ).content.decode()
        assert "not correct" in field_error(page, "current_password")
        assert "data-open-on-load" in page  # the dialog opens again, with the errors
        page = alice_page.post(
            "/settings/password/",
            {"current_password": PASSWORD, "new_password": "123", "confirm_password": "123"},
        ).content.decode()
        assert "too short" in field_error(page, "new_password")
        page = alice_page.post(
            "/settings/password/",
            {
                "current_password": PASSWORD,
                "new_password": "Correct-Horse-9",
                "confirm_password": "Correct-Horse-8",
            },
        ).content.decode()
        assert "differ" in field_error(page, "confirm_password")
        response = alice_page.post(
            "/settings/password/",
            {
                "current_password": PASSWORD,
                "new_password": "Correct-Horse-9-Battery",
                "confirm_password": "Correct-Horse-9-Battery",
            },
        )
        assert response.status_code == 302
        alice.refresh_from_db()
        assert alice.check_password("Correct-Horse-9-Battery")
        assert alice_page.get("/settings/").status_code == 200  # still signed in here


class TestShell:
    def test_the_pages_send_a_strict_content_security_policy(self, alice_page):
        for path in ("/", "/new/", "/settings/", "/accounts/login/"):
            csp = alice_page.get(path)["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "unsafe" not in csp
            assert "frame-ancestors 'none'" in csp

    def test_no_inline_script_or_style_in_the_pages(self, alice_page, alice):
        make_projects(alice, 3)
        for path in ("/", "/new/", "/settings/", "/settings/password/"):
            page = alice_page.get(path).content.decode()
            assert not re.search(r"<script(?![^>]*\bsrc=)", page), path
            assert "<style" not in page and " style=" not in page, path

    def test_every_form_field_has_a_label(self, alice_page, client):
        for path in ("/new/", "/settings/", "/settings/password/"):
            page = alice_page.get(path).content.decode()
            for field_id in re.findall(r'<input[^>]*type="(?!hidden)[^"]*"[^>]*id="([^"]+)"', page):
                assert f'for="{field_id}"' in page, (path, field_id)


class TestCard:
    def test_one_card_for_a_project_the_page_did_not_show(self, alice_page, alice, bob):
        [running] = make_projects(alice, 1)
        page = alice_page.get(f"/apps/{running.id}/card/").content.decode()
        assert page.lstrip().startswith("<li") and f'id="project-{running.id}"' in page
        assert ">Running<" in page and "<html" not in page
        assert alice_page.get(f"/apps/{ProjectFactory(owner=bob).id}/card/").status_code == 404


class TestStaticFiles:
    """Butler serves its own static files (WhiteNoise, straight from the app folders), with
    DEBUG off as `make run` runs it; the admin keeps its stylesheet."""

    @pytest.mark.parametrize(
        ("path", "kind"),
        [
            ("/static/web/css/butler.css", "text/css"),
            ("/static/web/js/live.js", "javascript"),
            ("/static/web/vendor/htmx-2.0.11.min.js", "javascript"),
            ("/static/admin/css/base.css", "text/css"),
        ],
    )
    def test_it_is_served(self, client, path, kind):
        response = client.get(path)
        assert response.status_code == 200 and kind in response["Content-Type"]
        assert b"".join(response.streaming_content)

    def test_the_vendored_htmx_is_the_unmodified_release(self):
        from django.conf import settings

        vendor = settings.BASE_DIR / "static" / "web" / "vendor"
        recorded = re.search(
            r"`htmx-([\d.]+)\.min\.js` .*?`([0-9a-f]{64})`", (vendor / "README.md").read_text()
        )
        version, sha = recorded.groups()
        assert hashlib.sha256((vendor / f"htmx-{version}.min.js").read_bytes()).hexdigest() == sha
        base = (settings.BASE_DIR / "templates" / "base.html").read_text()
        assert f"web/vendor/htmx-{version}.min.js" in base
        assert (vendor / "htmx-LICENSE.txt").read_text().startswith("Zero-Clause BSD")

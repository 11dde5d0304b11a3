"""A project's pages through Django's test client: access, form errors next to their field,
what the pages show, and a fixed number of queries however much history there is."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.utils import timezone
from django_q.conf import Conf

from deployments.models import Deployment, LogLine, Release
from deployments.runtime.base import INSTANCE_LABEL, ImageInfo
from envvars.models import EnvironmentVariable
from envvars.selectors import envvars_list
from envvars.services import envvar_set
from projects.models import Domain
from projects.services import project_import_split
from tests.factories import EnvironmentVariableFactory, ProjectFactory, UserFactory
from tests.samples import env_page_repo

pytestmark = pytest.mark.django_db

PAGES = ["", "configuration/", "env/", "deployments/", "logs/"]


@pytest.fixture
def queue_only(monkeypatch):
    """Deployments stay queued (no worker runs them): the test sees what a user sees at once."""
    monkeypatch.setattr(Conf, "SYNC", False)


@pytest.fixture
def web(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def project(alice):
    return ProjectFactory(owner=alice, app_name="shop")


@pytest.fixture
def split(alice):
    return project_import_split(
        owner=alice,
        frontend_url="https://github.com/user/react-app.git",
        backend_url="https://github.com/user/flask-api.git",
    )


@pytest.fixture
def local_git_root(settings, tmp_path):
    root = (tmp_path / "repos").resolve()
    root.mkdir()
    settings.BUTLER_LOCAL_GIT_ROOTS = [str(root)]
    return root


def url(project, page=""):
    return f"/apps/{project.id}/{page}"


def make_deployment(project, number, status=Deployment.Status.SUPERSEDED, **fields):
    release = None
    if status in (Deployment.Status.RUNNING, Deployment.Status.SUPERSEDED):
        release = Release.objects.create(
            project=project, number=number, image_tag=f"butler/{project.app_name}:v{number}"
        )
    now = timezone.now()
    return Deployment.objects.create(
        project=project,
        number=number,
        trace_id=f"trace-{project.id}-{number}",
        git_url=project.git_url,
        status=status,
        release=release,
        commit_sha=f"{number:040x}",
        started_at=now,
        finished_at=None if status in Deployment.UNFINISHED else now,
        **fields,
    )


def keep_image(fake_runtime, deployment):
    """The engine still has the image of this deployment's release."""
    tag = deployment.release.image_tag
    fake_runtime.present_images.add(tag)
    fake_runtime.images[tag] = ImageInfo(
        id=f"sha256:{deployment.id:064x}",
        tags=[tag],
        labels={
            "butler.project": str(deployment.project_id),
            INSTANCE_LABEL: settings.BUTLER_INSTANCE_ID,
        },
        created=timezone.now(),
    )


class TestAccess:
    @pytest.mark.parametrize("page", PAGES)
    def test_every_page_opens_for_its_owner(self, web, project, page, fake_runtime):
        response = web.get(url(project, page))
        assert response.status_code == 200
        body = response.content.decode()
        assert 'aria-label="Project"' in body and "Environment Variables" in body
        assert 'aria-current="page"' in body

    @pytest.mark.parametrize("page", PAGES)
    def test_another_users_project_is_a_404(self, client, project, page, fake_runtime):
        client.force_login(UserFactory(username="mallory"))
        assert client.get(url(project, page)).status_code == 404

    @pytest.mark.parametrize(
        "page",
        ["deploy/", "env/set/", "env/delete/", "env/import/", "domains/add/", "configuration/"],
    )
    def test_another_users_project_refuses_writes(self, client, project, page):
        client.force_login(UserFactory(username="mallory"))
        response = client.post(url(project, page), {"key": "A", "value": "b", "domain": "x.com"})
        assert response.status_code == 404
        assert not EnvironmentVariable.objects.exists() and not Domain.objects.exists()
        assert not project.deployments.exists()

    def test_another_users_deployment_is_a_404_under_my_project(self, web, project, fake_runtime):
        theirs = make_deployment(ProjectFactory(app_name="theirs"), 1, Deployment.Status.RUNNING)
        for page in ("panel/", "rollback/"):
            assert web.get(url(project, f"deployments/{theirs.id}/{page}")).status_code == 404
        assert web.post(url(project, f"deployments/{theirs.id}/cancel/")).status_code == 404

    def test_signed_out_goes_to_the_login_page(self, client, project):
        response = client.get(url(project))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]

    def test_a_components_pages_go_to_its_parents(self, web, split):
        child = split.children.get(component_type="backend")
        response = web.get(url(child, "env/") + "?component=backend")
        assert response.status_code == 302
        assert response["Location"] == url(split, "env/") + "?component=backend"


class TestDeployPage:
    def test_a_single_project_shows_its_url_and_deploy(self, web, project):
        body = web.get(url(project)).content.decode()
        assert f'value="{project.git_url}"' in body
        assert (
            '<button class="btn btn-primary" type="submit" name="action" value="deploy" data-detect>'
            in body
        )
        assert "Deploy All" not in body

    def test_a_multi_repo_project_shows_both_inputs_and_three_buttons(self, web, split):
        body = web.get(url(split)).content.decode()
        assert "Frontend repository URL" in body and "Backend repository URL" in body
        assert 'value="https://github.com/user/react-app.git"' in body
        for label in ("Deploy All", "Deploy Frontend", "Deploy Backend"):
            assert label in body
        assert "Components" not in body  # neither component deployed yet

    def test_the_components_section_appears_once_both_are_deployed(self, web, split):
        children = {c.component_type: c for c in split.children.all()}
        children["backend"].status = "running"
        children["backend"].deployed_url = "http://127.0.0.1:9001"
        children["backend"].save()
        assert 'id="components-title"' not in web.get(url(split)).content.decode()
        children["frontend"].status = "running"
        children["frontend"].deployed_url = "http://127.0.0.1:9002"
        children["frontend"].save()
        body = web.get(url(split)).content.decode()
        assert 'id="components-title"' in body
        assert 'data-logs-component="frontend"' in body and 'id="logs-dialog"' in body
        for page in PAGES[1:]:  # the Deploy page only
            assert 'id="components-title"' not in web.get(url(split, page)).content.decode()

    def test_a_bad_url_is_shown_next_to_the_field(self, web, project, queue_only):
        make_deployment(project, 1, Deployment.Status.RUNNING)  # not a first deploy
        response = web.post(url(project, "deploy/"), {"action": "deploy", "git_url": "file:///etc"})
        assert response.status_code == 400
        body = response.content.decode()
        assert re.search(r'id="id_git_url"[^>]*aria-invalid="true"', body)
        assert 'id="id_git_url-error"' in body
        assert project.deployments.count() == 1

    def test_a_first_deploy_asks_about_variables_first_then_skip_deploys(
        self, web, alice, local_git_root, queue_only
    ):
        repo = env_page_repo(local_git_root / "app", marker="m", var="GREETING")
        project = ProjectFactory(owner=alice, git_url=str(repo))
        form = {"action": "deploy", "git_url": str(repo), "branch": ""}
        response = web.post(url(project, "deploy/"), form)
        assert response.status_code == 200  # the detection page (what no-JS browsers get)
        body = response.content.decode()
        assert "GREETING" in body and "server.py" in body
        assert "Import All" in body and "Add Manually" in body and "Skip" in body
        assert not project.deployments.exists()
        response = web.post(url(project, "deploy/"), {**form, "detect": "skip"})
        assert response.status_code == 302 and response["Location"] == url(project)
        deployment = project.deployments.get()
        assert deployment.status == "queued" and deployment.trigger == "ui"
        assert not EnvironmentVariable.objects.filter(project=project).exists()
        page = web.get(url(project)).content.decode()
        assert f'data-deployment-id="{deployment.id}"' in page and "Cancel" in page

    def test_import_all_saves_the_variables_empty_then_deploys(self, web, project, queue_only):
        envvar_set(project=project, key="KEPT", value="secret-value")
        form = {
            "action": "deploy",
            "git_url": project.git_url,
            "detect": "import",
            "import_key": ["GREETING", "KEPT"],
        }
        assert web.post(url(project, "deploy/"), form).status_code == 302
        assert envvars_list(project=project).variables == {"GREETING": "", "KEPT": "secret-value"}
        assert project.deployments.count() == 1

    def test_the_detection_partial_lists_where_each_variable_was_found(
        self, web, alice, local_git_root
    ):
        repo = env_page_repo(local_git_root / "app", marker="m", var="API_TOKEN")
        project = ProjectFactory(owner=alice, git_url=str(repo))
        body = web.get(url(project, "detect/") + "?action=deploy").content.decode()
        assert "API_TOKEN" in body and "server.py" in body
        assert 'name="import_key" value="API_TOKEN" form="deploy-form"' in body

    def test_deploy_all_queues_backend_then_frontend(self, web, split, queue_only):
        form = {"action": "all", "frontend_url": "", "backend_url": "", "detect": "skip"}
        assert web.post(url(split, "deploy/"), form).status_code == 302
        backend = Deployment.objects.get(project__component_type="backend")
        frontend = Deployment.objects.get(project__component_type="frontend")
        assert frontend.after_id == backend.id
        body = web.get(url(split)).content.decode()
        assert body.index(f'id="deployment-{backend.id}"') < body.index(
            f'id="deployment-{frontend.id}"'
        )

    def test_deploy_frontend_deploys_only_it(self, web, split, queue_only):
        form = {"action": "frontend", "frontend_url": "", "backend_url": ""}
        assert web.post(url(split, "deploy/"), form).status_code == 302
        assert [d.project.component_type for d in Deployment.objects.all()] == ["frontend"]

    def test_a_failed_deployment_shows_its_error_and_the_lines_that_explain_it(self, web, project):
        deployment = make_deployment(
            project, 1, Deployment.Status.FAILED, error="The app exited: DATABASE_URL is not set"
        )
        deployment.phase_timings = {"clone": 0.1, "build": 2.0, "start": 0.5}
        deployment.save()
        LogLine.objects.create(deployment=deployment, seq=1, text="Cloning", stream="system")
        LogLine.objects.create(
            deployment=deployment,
            seq=2,
            text="\x1b[31mKeyError: DATABASE_URL\x1b[0m",
            stream="error",
        )
        body = web.get(url(project)).content.decode()
        assert "DATABASE_URL is not set" in body
        assert "KeyError: DATABASE_URL" in body and "\x1b" not in body
        assert 'class="step step-failed" data-phase="starting"' in body
        assert 'class="step step-done" data-phase="building"' in body


class TestDeploymentsPage:
    def test_history_newest_first_with_rollback_only_where_it_can_run(
        self, web, project, fake_runtime
    ):
        old = make_deployment(project, 1)
        gone = make_deployment(project, 2)
        running = make_deployment(project, 3, Deployment.Status.RUNNING)
        failed = make_deployment(project, 4, Deployment.Status.FAILED, error="boom")
        for d in (old, running):
            keep_image(fake_runtime, d)
        body = web.get(url(project, "deployments/")).content.decode()
        order = [int(n) for n in re.findall(r'<tr id="row-(\d+)"', body)]
        assert order == [failed.id, running.id, gone.id, old.id]
        assert f"deployments/{old.id}/rollback/" in body
        assert f"deployments/{gone.id}/rollback/" not in body  # its image was removed
        assert f"deployments/{running.id}/rollback/" not in body
        assert "its image was removed" in body and "running now" in body
        assert old.commit_sha[:7] in body

    def test_rollback_without_javascript_confirms_then_queues(
        self, web, project, fake_runtime, queue_only
    ):
        old = make_deployment(project, 1)
        make_deployment(project, 2, Deployment.Status.RUNNING)
        keep_image(fake_runtime, old)
        assert (
            "Roll back" in web.get(url(project, f"deployments/{old.id}/rollback/")).content.decode()
        )
        response = web.post(url(project, f"deployments/{old.id}/rollback/"))
        assert response.status_code == 302 and response["Location"] == url(project)
        newest = project.deployments.order_by("-id").first()
        assert newest.trigger == "rollback" and newest.release_id == old.release_id

    def test_a_rollback_that_cannot_run_says_why(self, web, project, fake_runtime):
        old = make_deployment(project, 1)
        make_deployment(project, 2, Deployment.Status.RUNNING)
        response = web.post(url(project, f"deployments/{old.id}/rollback/"))
        assert response.status_code == 409
        assert "was removed" in response.content.decode()

    def test_cancel_a_queued_deployment(self, web, project):
        queued = make_deployment(project, 1, Deployment.Status.QUEUED)
        response = web.post(
            url(project, f"deployments/{queued.id}/cancel/"), {"next": "deployments"}
        )
        assert response.status_code == 302 and response["Location"] == url(project, "deployments/")
        queued.refresh_from_db()
        assert queued.status == "cancelled"
        again = web.post(url(project, f"deployments/{queued.id}/cancel/"), follow=True)
        assert "only a queued or running" in again.content.decode()


class TestConfiguration:
    def test_rename_and_a_taken_name_is_shown_next_to_the_field(self, web, alice, project):
        ProjectFactory(owner=alice, app_name="blog")
        response = web.post(
            url(project, "configuration/"), {"app_name": "blog", "strategy": "auto"}
        )
        assert response.status_code == 400
        assert 'id="id_app_name-error"' in response.content.decode()
        response = web.post(
            url(project, "configuration/"),
            {"app_name": "Shop Two", "strategy": "static", "root_dir": "site"},
        )
        assert response.status_code == 302
        project.refresh_from_db()
        assert (project.app_name, project.strategy, project.root_dir) == (
            "shop-two",
            "static",
            "site",
        )

    def test_a_bad_root_dir_is_shown_next_to_it(self, web, project):
        response = web.post(
            url(project, "configuration/"), {"app_name": "shop", "root_dir": "../up"}
        )
        assert response.status_code == 400
        assert 'id="id_root_dir-error"' in response.content.decode()

    def test_domains_add_remove_and_errors_next_to_the_field(self, web, alice, project, fake_proxy):
        assert (
            web.post(url(project, "domains/add/"), {"domain": "Shop.Example.com"}).status_code
            == 302
        )
        assert list(project.domains.values_list("domain", flat=True)) == ["shop.example.com"]
        body = web.get(url(project, "configuration/")).content.decode()
        assert "shop.example.com" in body and "Remove" in body
        response = web.post(url(project, "domains/add/"), {"domain": "http://bad/path"})
        assert response.status_code == 400
        body = response.content.decode()
        assert 'id="id_domain-error"' in body and "not a valid host name" in body
        other = ProjectFactory(owner=UserFactory(username="carol"))
        Domain.objects.create(project=other, domain="taken.example.com")
        response = web.post(url(project, "domains/add/"), {"domain": "taken.example.com"})
        assert response.status_code == 400 and "another project" in response.content.decode()
        assert (
            web.post(url(project, "domains/remove/"), {"domain": "shop.example.com"}).status_code
            == 302
        )
        assert not project.domains.exists()


class TestEnvironmentVariables:
    def test_values_are_masked_until_revealed(self, web, project):
        envvar_set(project=project, key="API_KEY", value="s3cr3t-value")
        body = web.get(url(project, "env/")).content.decode()
        assert "API_KEY" in body and "s3cr3t-value" not in body
        response = web.get(url(project, "env/reveal/") + "?key=API_KEY", HTTP_HX_REQUEST="true")
        assert "s3cr3t-value" in response.content.decode()
        assert "no-store" in response["Cache-Control"]
        no_js = web.get(url(project, "env/reveal/") + "?key=API_KEY")
        assert no_js.status_code == 302
        assert "s3cr3t-value" in web.get(no_js["Location"]).content.decode()

    def test_add_edit_delete(self, web, project):
        assert web.post(url(project, "env/set/"), {"key": "A", "value": "1"}).status_code == 302
        assert web.post(url(project, "env/set/"), {"key": "A", "value": "2"}).status_code == 302
        assert envvars_list(project=project).variables == {"A": "2"}
        assert web.post(url(project, "env/delete/"), {"key": "A"}).status_code == 302
        assert envvars_list(project=project).variables == {}

    def test_a_bad_name_is_shown_next_to_it_and_the_value_is_not_echoed(self, web, project):
        response = web.post(url(project, "env/set/"), {"key": "1BAD", "value": "hunter2-secret"})
        assert response.status_code == 400
        body = response.content.decode()
        assert 'id="id_key-error"' in body and "hunter2-secret" not in body

    def test_import_paste_and_upload_and_export(self, web, project):
        from django.core.files.uploadedfile import SimpleUploadedFile

        response = web.post(url(project, "env/import/"), {"content": "A=1\nB='two words'\n"})
        assert response.status_code == 302
        upload = SimpleUploadedFile("prod.env", b"C=3\n", content_type="text/plain")
        assert web.post(url(project, "env/import/"), {"file": upload}).status_code == 302
        assert envvars_list(project=project).variables == {"A": "1", "B": "two words", "C": "3"}
        export = web.get(url(project, "env/export/"))
        assert export["Content-Disposition"] == 'attachment; filename="shop.env"'
        assert "B='two words'" in export.content.decode()

    def test_a_broken_env_file_names_the_line(self, web, project):
        response = web.post(url(project, "env/import/"), {"content": "A=1\nnot a line\n"})
        assert response.status_code == 400
        body = response.content.decode()
        assert 'id="id_content-error"' in body and "line 2" in body
        assert web.post(url(project, "env/import/"), {}).status_code == 400

    def test_redeploy_needed_notice_after_a_change(self, web, project):
        project.status = "running"
        project.env_applied_at = timezone.now()
        project.save()
        assert "Redeploy needed" not in web.get(url(project, "env/")).content.decode()
        envvar_set(project=project, key="A", value="1")
        body = web.get(url(project, "env/")).content.decode()
        assert "Redeploy needed" in body and 'value="redeploy"' in body
        assert "Redeploy needed" in web.get(url(project)).content.decode()

    def test_a_multi_repo_project_has_variables_per_component(self, web, split):
        backend = split.children.get(component_type="backend")
        form = {"key": "DB", "value": "x", "component": "backend"}
        response = web.post(url(split, "env/set/"), form)
        assert response["Location"] == url(split, "env/") + "?component=backend"
        assert envvars_list(project=backend).variables == {"DB": "x"}
        assert envvars_list(project=split).variables == {}
        body = web.get(url(split, "env/") + "?component=backend").content.decode()
        assert "DB" in body and "Shared" in body and "Frontend" in body
        assert web.get(url(split, "env/") + "?component=nope").status_code == 404


class TestQueryCounts:
    def test_pages_make_a_fixed_number_of_queries(
        self, web, project, fake_runtime, django_assert_max_num_queries
    ):
        for n in range(1, 61):
            deployment = make_deployment(project, n)
            LogLine.objects.create(deployment=deployment, seq=1, text=f"line {n}")
        for n in range(40):
            EnvironmentVariableFactory(project=project, key=f"VAR_{n}", value=str(n))
        Domain.objects.create(project=project, domain="shop.example.com")
        for page in PAGES:
            with django_assert_max_num_queries(14):
                assert web.get(url(project, page)).status_code == 200

    def test_a_multi_repo_deploy_page_too(self, web, split, django_assert_max_num_queries):
        for child in split.children.all():
            for n in range(1, 30):
                make_deployment(child, n)
        with django_assert_max_num_queries(14):
            assert web.get(url(split)).status_code == 200

"""Pipeline logic over the in-memory runtime: turn-taking, failures, masking, reconcile, GC.

Repos are real (git init, real clone, real detection); only the engine is the fake.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments import reconcile, services
from deployments.models import Deployment, LogLine
from deployments.pipeline import ready
from deployments.pipeline.run import claim, run_deployment
from deployments.runtime import BuildFailed
from deployments.services import deployment_create, project_remove_images_beyond_keep
from envvars.services import envvar_set
from projects.models import Project
from tests import samples
from tests.factories import EnvironmentVariableFactory, ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake(fake_runtime, monkeypatch):
    """The fake engine; its containers 'answer HTTP' as long as they run.

    Nothing is enqueued: each test runs deployments itself, in the order it wants.
    """
    monkeypatch.setattr(services, "_enqueue", lambda deployment_id: None)
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


def queued(project, **kwargs) -> Deployment:
    return deployment_create(project=project, trace_id="trace-test", **kwargs)


def logs(deployment) -> str:
    return "\n".join(LogLine.objects.filter(deployment=deployment).values_list("text", flat=True))


def run(deployment) -> Deployment:
    run_deployment(deployment.id)
    deployment.refresh_from_db()
    return deployment


class TestTurnTaking:
    def test_a_second_deployment_waits_while_the_first_runs(self, project, fake):
        first, second = queued(project), queued(project)
        assert claim(first.id).status == "cloning"
        assert claim(second.id, wait_seconds=0.3) is None
        second.refresh_from_db()
        assert second.status == "queued"
        assert "Waiting for deployment #1" in logs(second)
        Deployment.objects.filter(id=first.id).update(status="running")
        assert claim(second.id, wait_seconds=0.3).id == second.id

    def test_a_deployment_is_claimed_once(self, project, fake):
        deployment = queued(project)
        assert claim(deployment.id) is not None
        assert claim(deployment.id) is None

    def test_a_frontend_waits_for_its_backend(self, alice, fake):
        parent = ProjectFactory(owner=alice, git_url="split::https://h/a/fe|https://h/a/be")
        backend = ProjectFactory(owner=alice, parent=parent, component_type="backend")
        frontend = ProjectFactory(owner=alice, parent=parent, component_type="frontend")
        b = queued(backend)
        f = queued(frontend, after=b)
        assert claim(f.id, wait_seconds=0.3) is None
        Deployment.objects.filter(id=b.id).update(status="failed")
        assert claim(f.id, wait_seconds=0.3) is not None

    def test_a_deleted_or_cancelled_deployment_is_not_run(self, project, fake):
        deployment = queued(project)
        Deployment.objects.filter(id=deployment.id).update(status="cancelled")
        assert run_deployment(deployment.id) is None
        assert fake.builds == []


class TestOutcomes:
    def test_a_successful_run_records_everything(self, project, fake):
        deployment = run(queued(project))
        assert deployment.status == "running", deployment.error
        assert deployment.strategy == "static" and deployment.commit_sha
        assert deployment.deployed_url == f"http://localhost:{deployment.host_port}"
        [container] = fake.containers.values()
        assert container.info.labels["butler.project"] == str(project.id)
        assert container.info.labels["butler.deployment"] == str(deployment.id)
        assert container.env["PORT"] == str(deployment.container_port)
        project.refresh_from_db()
        assert project.status == "running" and project.container_name == container.info.name
        assert project.env_applied_at is not None

    def test_secrets_are_masked_in_the_log_and_the_error(self, project, fake):
        envvar_set(project=project, key="API_TOKEN", value="tok-very-secret-123")
        fake.container_exit_code = 1
        fake.logs_text = "booting with API_TOKEN=tok-very-secret-123\nfatal: no database\n"
        deployment = run(queued(project))
        assert deployment.status == "failed"
        assert "fatal: no database" in deployment.error
        assert "tok-very-secret-123" not in deployment.error
        assert "tok-very-secret-123" not in logs(deployment)
        assert "API_TOKEN" in logs(deployment)  # names are fine, values are not
        assert fake.containers == {}

    def test_a_build_failure_leaves_no_image_and_shows_the_tail(self, project, fake):
        fake.fail_build_with = BuildFailed(
            "The image build failed.", log_tail="npm ERR! missing script"
        )
        deployment = run(queued(project))
        assert deployment.status == "failed"
        assert "npm ERR! missing script" in deployment.error
        assert fake.images == {} and fake.containers == {}

    def test_the_engine_being_down_fails_with_what_to_do(self, project, fake):
        fake.engine_down = True
        deployment = run(queued(project))
        assert deployment.status == "failed"
        assert "Start Docker" in deployment.error

    def test_an_unreadable_variable_is_named_and_the_deploy_goes_on(self, project, fake):
        EnvironmentVariableFactory(project=project, key="GOOD", value="fine-value")
        EnvironmentVariableFactory(
            project=project, key="BROKEN", value_encrypted="gAAAAnot-a-token"
        )
        deployment = run(queued(project))
        assert deployment.status == "running"
        assert "BROKEN could not be decrypted" in logs(deployment)
        [container] = fake.containers.values()
        assert container.env["GOOD"] == "fine-value" and "BROKEN" not in container.env

    def test_detected_but_unset_variables_warn_and_the_deploy_goes_on(
        self, alice, fake, settings, tmp_path
    ):
        settings.BUTLER_LOCAL_GIT_ROOTS = [str(tmp_path)]
        settings.BUTLER_READY_TIMEOUT = 3
        repo = samples.procfile_repo(tmp_path / "app")
        (repo / "config.py").write_text('import os\nSTRIPE_KEY = os.environ.get("STRIPE_KEY")\n')
        samples._commit(repo, "read a key")
        project = ProjectFactory(owner=alice, git_url=str(repo))
        deployment = run(queued(project))
        assert deployment.status == "running"
        assert "STRIPE_KEY" in logs(deployment)
        assert any("STRIPE_KEY" in w for w in deployment.warnings)

    def test_a_failed_redeploy_keeps_the_old_container(self, project, fake):
        first = run(queued(project))
        fake.container_exit_code = 1
        second = run(queued(project))
        assert second.status == "failed"
        first.refresh_from_db()
        assert first.status == "running"
        assert [c.info.id for c in fake.containers.values()] == [first.container_id]
        project.refresh_from_db()
        assert project.status == "running" and project.deployed_url == first.deployed_url

    def test_a_redeploy_supersedes_the_old_container_once_ready(self, project, fake):
        first = run(queued(project))
        second = run(queued(project))
        first.refresh_from_db()
        assert (first.status, second.status) == ("superseded", "running")
        assert [c.info.id for c in fake.containers.values()] == [second.container_id]
        assert len(fake.builds) == 1  # unchanged inputs: no second build


def test_old_images_beyond_the_limit_are_removed(project, fake, settings):
    settings.BUTLER_KEEP_IMAGES = 2
    from datetime import UTC, datetime

    from deployments.runtime import ImageInfo

    for n in range(4):
        fake.images[f"butler/site:{n}"] = ImageInfo(
            id=f"sha256:{n}",
            tags=[f"butler/site:{n}"],
            created=datetime(2026, 1, n + 1, tzinfo=UTC),
            labels={
                "butler.project": str(project.id),
                "butler.managed": "true",
                "butler.instance": settings.BUTLER_INSTANCE_ID,
            },
        )
    Deployment.objects.create(
        project=project,
        number=9,
        trace_id="t",
        git_url="x",
        status="running",
        image_tag="butler/site:0",
    )
    removed = project_remove_images_beyond_keep(project_id=project.id, runtime=fake)
    assert sorted(fake.images) == ["butler/site:0", "butler/site:2", "butler/site:3"]
    assert removed == ["butler/site:1"]


class TestReconcile:
    def test_a_deployment_whose_worker_died_is_failed_with_a_reason(self, project, fake):
        stuck = queued(project)
        Deployment.objects.filter(id=stuck.id).update(
            status="building", heartbeat_at=timezone.now() - timedelta(minutes=10)
        )
        alive = queued(ProjectFactory(owner=project.owner))
        Deployment.objects.filter(id=alive.id).update(
            status="building", heartbeat_at=timezone.now()
        )
        assert reconcile.fail_stuck_deployments() == [stuck.id]
        stuck.refresh_from_db()
        assert stuck.status == "failed" and "worker stopped" in stuck.error
        assert "worker stopped" in logs(stuck)
        assert reconcile.fail_stuck_deployments(startup=True) == [alive.id]

    def test_a_queued_deployment_whose_task_is_gone_is_failed(self, project, fake):
        lost = queued(project)  # the sync test queue ran nothing and holds nothing
        Deployment.objects.filter(id=lost.id).update(status="queued")
        assert reconcile.fail_stuck_deployments() == [lost.id]

    def test_containers_of_deleted_projects_are_removed(self, project, fake):
        deployment = run(queued(project))
        assert deployment.status == "running"
        Project.objects.filter(id=project.id).delete()  # behind Butler's back
        report = reconcile.reconcile()
        assert report["orphans"]["containers"] and fake.containers == {}
        assert report["orphans"]["images"] and fake.images == {}

    def test_a_vanished_container_shows_as_missing_and_back(self, project, fake):
        deployment = run(queued(project))
        saved = fake.containers.pop(deployment.container_id)
        reconcile.reconcile()
        project.refresh_from_db()
        assert project.status == "missing"
        fake.containers[deployment.container_id] = saved
        reconcile.reconcile()
        project.refresh_from_db()
        assert project.status == "running"

    def test_the_engine_being_down_skips_the_docker_part(self, project, fake):
        fake.engine_down = True
        report = reconcile.reconcile()
        assert "not reachable" in report["docker"]


def test_env_values_reach_the_container_but_never_the_log(project, fake):
    envvar_set(project=project, key="DB_PASSWORD", value="hunter2-hunter2")
    deployment = run(queued(project))
    assert deployment.status == "running"
    assert "hunter2-hunter2" not in logs(deployment)
    [container] = fake.containers.values()
    assert container.env["DB_PASSWORD"] == "hunter2-hunter2"

"""Pipeline logic over the in-memory runtime: outcomes, masking, releases, rollback, cancel,
reconcile, GC.

Repos are real (git init, real clone, real detection); only the engine is the fake.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments import queue, reconcile, services
from deployments.models import Deployment, LogLine, Release
from deployments.pipeline import ready
from deployments.pipeline.execute import run_deployment
from deployments.releases import release_env, releases_images_collect
from deployments.runtime import BuildFailed
from deployments.services import deployment_create
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
    monkeypatch.setattr(queue, "_enqueue", lambda deployment_id: None)
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


class TestClaim:
    def test_a_deployment_is_claimed_once(self, project, fake):
        from deployments.transitions import deployment_claim

        deployment = queued(project)
        assert deployment_claim(deployment.id, worker="h:1").status == "cloning"
        assert deployment_claim(deployment.id, worker="h:2") is None

    def test_a_deleted_or_cancelled_deployment_is_not_run(self, project, fake):
        deployment = queued(project)
        services.deployment_cancel(deployment=deployment, by="alice")
        assert run_deployment(deployment.id) is None
        assert run_deployment(999_999) is None
        assert fake.builds == []


class TestOutcomes:
    def test_a_successful_run_records_everything(self, project, fake):
        deployment = run(queued(project))
        assert deployment.status == "running", deployment.error
        assert deployment.strategy == "static" and deployment.commit_sha
        project.refresh_from_db()
        # The URL is the project's stable public port, not the container's own host port.
        assert deployment.deployed_url == f"http://localhost:{project.public_port}"
        assert project.public_port != deployment.host_port
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


def test_old_images_beyond_the_last_releases_are_removed(project, fake, settings):
    settings.BUTLER_KEEP_RELEASES = 2
    from datetime import UTC, datetime

    from deployments.runtime import ImageInfo

    for n in range(5):
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
    for n in (1, 2, 3):  # releases v1..v3 made images 1..3; v2 and v3 are the newest two
        Release.objects.create(project=project, number=n, image_tag=f"butler/site:{n}")
    Deployment.objects.create(
        project=project,
        number=9,
        trace_id="t",
        git_url="x",
        status="running",
        image_tag="butler/site:0",  # runs now, whatever its release
    )
    removed = releases_images_collect(project_id=project.id, runtime=fake)
    assert sorted(fake.images) == ["butler/site:0", "butler/site:2", "butler/site:3"]
    assert sorted(removed) == ["butler/site:1", "butler/site:4"]


class TestReconcile:
    def test_a_deployment_whose_worker_died_is_failed_with_a_reason(self, project, fake):
        stuck = queued(project)
        Deployment.objects.filter(id=stuck.id).update(
            status="building", heartbeat_at=timezone.now() - timedelta(minutes=10)
        )
        other = ProjectFactory(owner=project.owner)
        alive = queued(other)
        Deployment.objects.filter(id=alive.id).update(
            status="building", heartbeat_at=timezone.now(), claimed_by="elsewhere:1"
        )
        dead_pid = queued(ProjectFactory(owner=project.owner))
        import socket

        Deployment.objects.filter(id=dead_pid.id).update(
            status="cloning",
            heartbeat_at=timezone.now(),
            claimed_by=f"{socket.gethostname()}:999999999",
        )
        assert sorted(reconcile.fail_dead_deployments()) == sorted([stuck.id, dead_pid.id])
        stuck.refresh_from_db()
        assert stuck.status == "failed" and "worker stopped" in stuck.error
        assert "worker stopped" in logs(stuck)
        project.refresh_from_db()
        assert project.status == "failed"
        dead_pid.refresh_from_db()
        assert "worker process is gone" in dead_pid.error
        alive.refresh_from_db()
        assert alive.status == "building"

    def test_a_handed_over_deployment_whose_task_is_lost_is_handed_again(self, project, fake):
        lost = queued(project)  # the fake queue holds nothing
        assert lost.id in queue.dispatch() or Deployment.objects.get(id=lost.id).dispatched_at
        Deployment.objects.filter(id=lost.id).update(
            dispatched_at=timezone.now() - timedelta(minutes=5)
        )
        assert queue.redispatch_lost(queued_task_names=set()) == [lost.id]
        assert queue.dispatch() == [lost.id]
        lost.refresh_from_db()
        assert lost.status == "queued" and lost.dispatched_at is not None

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


class TestReleases:
    def test_a_deploy_records_a_release_and_an_unchanged_redeploy_reuses_it(self, project, fake):
        first = run(queued(project))
        assert first.release is not None and first.release.number == 1
        assert first.release.image_tag == first.image_tag
        assert first.release.commit_sha == first.commit_sha
        second = run(queued(project))
        assert second.release_id == first.release_id  # same image, same variables
        assert Release.objects.filter(project=project).count() == 1

    def test_a_changed_variable_makes_a_new_release_of_the_same_image(self, project, fake):
        envvar_set(project=project, key="GREETING", value="hello-one")
        first = run(queued(project))
        envvar_set(project=project, key="GREETING", value="hello-two")
        second = run(queued(project))
        assert second.release.number == 2 and second.release.image_tag == first.release.image_tag
        assert len(fake.builds) == 1
        assert release_env(first.release).env["GREETING"] == "hello-one"
        assert "hello-one" not in first.release.env_encrypted  # encrypted at rest
        assert first.release.env_keys == ["GREETING"]


class TestRollback:
    def test_it_runs_the_old_release_with_its_old_values_and_no_build(self, project, fake):
        envvar_set(project=project, key="GREETING", value="hello-one")
        first = run(queued(project))
        envvar_set(project=project, key="GREETING", value="hello-two")
        run(queued(project))
        builds = len(fake.builds)
        [rollback] = services.deployment_rollback(project=project).values()
        assert rollback.trigger == "rollback" and rollback.release_id == first.release_id
        rollback = run(rollback)
        assert rollback.status == "running", rollback.error
        assert len(fake.builds) == builds
        [container] = fake.containers.values()
        assert container.env["GREETING"] == "hello-one"
        assert "Rolling back to release v1" in logs(rollback)
        assert "cloning" not in rollback.phase_timings and "clone" not in rollback.phase_timings
        project.refresh_from_db()
        assert project.status == "running" and project.redeploy_needed

    def test_it_is_refused_when_there_is_nothing_to_roll_back_to(self, project, fake):
        from core.errors import ConflictError

        with pytest.raises(ConflictError, match="no earlier release"):
            services.deployment_rollback(project=project)
        first = run(queued(project))
        with pytest.raises(ConflictError, match="already running"):
            services.deployment_rollback(project=project, deployment_id=first.id)

    def test_a_release_whose_image_is_gone_is_refused_by_name(self, project, fake):
        from core.errors import ConflictError

        first = run(queued(project))
        envvar_set(project=project, key="X", value="changed")
        run(queued(project))
        fake.images.clear()
        with pytest.raises(ConflictError, match=r"image of release v1 .* was removed"):
            services.deployment_rollback(project=project, release_id=first.release_id)
        assert not Deployment.objects.filter(trigger="rollback").exists()

    def test_another_projects_deployment_is_not_found(self, project, fake, bob):
        from core.errors import NotFoundError

        other = run(queued(ProjectFactory(owner=bob, git_url=project.git_url)))
        with pytest.raises(NotFoundError):
            services.deployment_rollback(project=project, deployment_id=other.id)


class TestCancel:
    def test_a_build_is_stopped_and_what_ran_before_keeps_serving(self, project, fake, settings):
        import threading
        import time

        settings.BUTLER_HEARTBEAT_SECONDS = 1
        first = run(queued(project))
        envvar_set(project=project, key="VITE_X", value="changed", is_build_time=True)
        building = threading.Event()

        def slow_build(cancel):
            building.set()
            assert cancel.wait(20), "the build was never cancelled"

        fake.build_hook = slow_build
        second = queued(project)
        worker = threading.Thread(target=run_deployment, args=(second.id,))
        worker.start()
        assert building.wait(10)
        asked = time.monotonic()
        services.deployment_cancel(deployment=Deployment.objects.get(id=second.id), by="alice")
        worker.join(10)
        assert time.monotonic() - asked < 5
        second.refresh_from_db()
        assert second.status == "cancelled" and second.error == "Cancelled by alice."
        assert "Cancelled: Cancelled by alice." in logs(second)
        assert [c.info.id for c in fake.containers.values()] == [first.container_id]
        assert set(fake.images) == {first.image_tag}
        project.refresh_from_db()
        assert project.status == "running"

    def test_a_finished_deployment_cannot_be_cancelled(self, project, fake):
        from core.errors import ConflictError

        done = run(queued(project))
        with pytest.raises(ConflictError, match=r"#1 is running"):
            services.deployment_cancel(deployment=done, by="alice")


def test_a_multi_repo_parent_rolls_back_both_components_backend_first(
    alice, fake, settings, tmp_path
):
    settings.BUTLER_LOCAL_GIT_ROOTS = [str(tmp_path)]
    settings.BUTLER_READY_TIMEOUT = 3
    fe, be = samples.static_repo(tmp_path / "fe"), samples.static_repo(tmp_path / "be")
    parent, first = services.deployment_request_split(
        user=alice, frontend_url=str(fe), backend_url=str(be), project=None
    )
    for deployment in (first["backend"], first["frontend"]):
        run(deployment)
    samples.static_repo(fe, marker="frontend two")
    samples.static_repo(be, marker="backend two")
    _parent, second = services.deployment_request_split(
        user=alice, frontend_url=None, backend_url=None, project=parent
    )
    for deployment in (second["backend"], second["frontend"]):
        assert run(deployment).status == "running"
    back = services.deployment_rollback(project=parent, deployment_id=first["frontend"].id)
    assert set(back) == {"backend", "frontend"}
    assert back["frontend"].after_id == back["backend"].id
    assert back["backend"].trace_id == back["frontend"].trace_id
    for component in ("backend", "frontend"):
        first[component].refresh_from_db()
        assert back[component].release_id == first[component].release_id
    for component in ("backend", "frontend"):
        assert run(back[component]).status == "running"
    parent.refresh_from_db()
    assert parent.status == "running"


def test_deleting_a_project_in_the_admin_removes_its_containers(project, fake, admin_client):
    deployment = run(queued(project))
    assert deployment.container_id in fake.containers
    response = admin_client.post(
        f"/admin/projects/project/{project.id}/delete/", {"post": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert not Project.objects.filter(id=project.id).exists()
    assert fake.containers == {} and fake.images == {}

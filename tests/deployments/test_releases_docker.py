"""Releases, rollback, cancel and a worker killed mid-build, on the real Docker Engine."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
from django.conf import settings

from deployments import queue
from deployments.models import Deployment
from deployments.pipeline.execute import run_deployment
from deployments.reconcile import reconcile
from tests import samples
from tests.deployments.test_pipeline_docker import (
    assert_nothing_left,
    assert_running,
    deploy,
    detail,
    labelled,
    log_text,
)
from tests.docker_fixtures import docker_cli, docker_inspect

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]

LAYER = re.compile(r"^\s*---> ([0-9a-f]{12,64})\s*$")


def page(url: str) -> str:
    return requests.get(url, timeout=10).text


def built_layers(client, deployment_id: int) -> list[str]:
    return [
        m[1] for line in log_text(client, deployment_id).splitlines() if (m := LAYER.match(line))
    ]


def ancestry(image: str) -> set[str]:
    """Ids of the image and all its parents (the classic builder's step results)."""
    ids = set()
    while image:
        info = docker_inspect(image)
        if info is None:
            break
        ids.add(info["Id"].split(":")[-1])
        image = info.get("Parent") or ""
    return ids


def assert_no_leftover_layers(client, deployment_id: int, keep: set[str]) -> None:
    """No step result the build printed is left dangling (untagged, nothing built on it):
    each is gone, part of `keep` (the image it made), tagged (a base image, printed for its
    FROM step), or the parent of another image (a cached layer another build uses)."""
    dangling = set(docker_cli("images", "-q", "--no-trunc", "--filter", "dangling=true").split())
    for layer in built_layers(client, deployment_id):
        if any(full.startswith(layer) for full in keep):
            continue
        assert not any(d.split(":")[-1].startswith(layer) for d in dangling), (
            f"build layer {layer} was left behind"
        )


def in_background(deployment_id: int) -> threading.Thread:
    worker = threading.Thread(target=run_deployment, args=(deployment_id,), daemon=True)
    worker.start()
    return worker


def wait_for(check, timeout: float = 60, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out")


def test_rollback_serves_the_old_page_with_the_old_values(alice_client, repos):
    repo = samples.env_page_repo(repos / "site", marker="version one", build_stage=True)
    first = deploy(alice_client, git_url=str(repo))
    project_id = first["project_id"]
    env = {"project_id": project_id, "variables": {"GREETING": "first greeting"}}
    alice_client.post("/api/env-vars", env, format="json")
    first = deploy(alice_client, project_id=project_id)  # with the variable set
    v1 = assert_running(alice_client, first["deployment_id"], "first greeting")
    image_v1 = docker_inspect(v1["image_tag"])["Id"]
    assert_no_leftover_layers(alice_client, first["deployment_id"], ancestry(v1["image_tag"]))

    samples.env_page_repo(repos / "site", marker="version two", build_stage=True)
    env["variables"]["GREETING"] = "second greeting"
    alice_client.post("/api/env-vars", env, format="json")
    second = deploy(alice_client, project_id=project_id)
    v2 = assert_running(alice_client, second["deployment_id"], "version two")
    assert "second greeting" in page(v2["deployed_url"])

    releases = alice_client.get(f"/api/projects/{project_id}/releases").json()
    assert [r["number"] for r in releases] == [3, 2, 1]
    current = {r["number"]: r["is_current"] for r in releases}
    assert current == {3: True, 2: False, 1: False}
    assert all(r["can_rollback"] for r in releases if not r["is_current"])

    response = alice_client.post(
        f"/api/projects/{project_id}/rollback",
        {"deployment_id": first["deployment_id"]},
        format="json",
    )
    assert response.status_code == 202, response.content
    back = assert_running(alice_client, response.json()["deployment_id"], "version one")
    assert "first greeting" in page(back["deployed_url"])
    assert back["trigger"] == "rollback" and back["release_number"] == 2
    assert "build" not in back["phase_timings"]
    assert docker_inspect(back["container_name"])["Image"] == image_v1
    assert detail(alice_client, second["deployment_id"])["status"] == "superseded"
    assert docker_inspect(v2["container_name"]) is None  # the old container was retired
    project = alice_client.get(f"/api/projects/{project_id}").json()
    assert project["status"] == "running" and project["deployed_url"] == back["deployed_url"]

    alice_client.delete(f"/projects/{project_id}")
    assert_nothing_left(project_id)


def test_cancel_stops_a_slow_build_within_seconds_and_leaves_nothing(
    alice_client, repos, monkeypatch
):
    monkeypatch.setattr(queue, "_enqueue", lambda deployment_id: None)  # we run it ourselves
    repo = samples.slow_build_repo(repos / "slow", seconds=60)
    body = deploy(alice_client, git_url=str(repo))
    worker = in_background(body["deployment_id"])
    wait_for(lambda: "sleeping" in log_text(alice_client, body["deployment_id"]), timeout=120)
    asked = time.monotonic()
    response = alice_client.post(f"/api/deployments/{body['deployment_id']}/cancel")
    assert response.status_code == 202 and response.json()["cancel_requested"] is True
    worker.join(timeout=30)
    took = time.monotonic() - asked
    assert took < 5, f"cancel took {took:.1f} s"
    cancelled = detail(alice_client, body["deployment_id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["error"] == "Cancelled by alice."
    assert_no_leftover_layers(alice_client, body["deployment_id"], keep=set())
    assert labelled("container", body["project_id"]) == []
    assert labelled("image", body["project_id"]) == []
    again = alice_client.post(f"/api/deployments/{body['deployment_id']}/cancel")
    assert again.status_code == 409 and "is cancelled" in again.json()["detail"]


def test_a_worker_killed_mid_build_leaves_nothing_stuck_or_orphaned(
    alice_client, repos, monkeypatch
):
    monkeypatch.setattr(queue, "_enqueue", lambda deployment_id: None)
    repo = samples.slow_build_repo(repos / "doomed", seconds=120)
    body = deploy(alice_client, git_url=str(repo))
    db = settings.DATABASES["default"]["NAME"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "butler_site.settings",
        "DATABASE_URL": f"sqlite:///{db}",
        "BUTLER_LOCAL_GIT_ROOTS": str(repos),
    }
    code = (
        "import django; django.setup()\n"
        "from deployments.tasks import run_deployment\n"
        f"run_deployment({body['deployment_id']})\n"
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, start_new_session=True
    )
    try:
        wait_for(lambda: "sleeping" in log_text(alice_client, body["deployment_id"]), timeout=120)
        assert detail(alice_client, body["deployment_id"])["status"] == "building"
        os.killpg(worker.pid, signal.SIGKILL)  # no cleanup, no goodbye
        worker.wait(timeout=10)
        report = reconcile()
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    assert body["deployment_id"] in report["failed_deployments"]
    dead = detail(alice_client, body["deployment_id"])
    assert dead["status"] == "failed" and "worker process is gone" in dead["error"]
    # The engine notices the dropped build connection and stops the step on its own.
    wait_for(lambda: labelled("container", body["project_id"]) == [], timeout=30)
    assert labelled("image", body["project_id"]) == []
    assert_no_leftover_layers(alice_client, body["deployment_id"], keep=set())
    # The project is free again: the next deploy is accepted and runs.
    samples.dockerfile_repo(repos / "doomed", marker="after the crash")
    monkeypatch.undo()
    after = deploy(alice_client, project_id=body["project_id"])
    assert_running(alice_client, after["deployment_id"], "after the crash")
    alice_client.delete(f"/projects/{body['project_id']}")
    assert_nothing_left(body["project_id"])


def test_rollback_and_cancel_refusals_say_why(alice_client, bob_client, repos):
    repo = samples.env_page_repo(repos / "once", marker="only once")
    body = deploy(alice_client, git_url=str(repo))
    assert_running(alice_client, body["deployment_id"], "only once")
    url = f"/api/projects/{body['project_id']}/rollback"
    nothing = alice_client.post(url, {}, format="json")
    assert nothing.status_code == 409 and "no earlier release" in nothing.json()["detail"]
    same = alice_client.post(url, {"deployment_id": body["deployment_id"]}, format="json")
    assert same.status_code == 409 and "already running" in same.json()["detail"]
    theirs = bob_client.post(url, {"deployment_id": body["deployment_id"]}, format="json")
    assert theirs.status_code == 404
    bob_cancel = bob_client.post(f"/api/deployments/{body['deployment_id']}/cancel")
    assert bob_cancel.status_code == 404
    both = alice_client.post(url, {"deployment_id": 1, "release_id": 1}, format="json")
    assert both.status_code == 400
    finished = alice_client.post(f"/api/deployments/{body['deployment_id']}/cancel")
    assert finished.status_code == 409 and "is running" in finished.json()["detail"]
    assert Deployment.objects.filter(trigger="rollback").count() == 0

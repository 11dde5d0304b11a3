"""Replaced containers go once they have had their grace period, counted from the moment
the deployment after them went live (fake runtime: the logic only)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.models import Deployment
from deployments.proxy.retire import retire_replaced
from deployments.runtime.base import ContainerSpec, ImageInfo
from deployments.runtime.fake import FakeRuntime
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db
S = Deployment.Status


def _deployment(runtime, project, number, status, live_ago):
    deployment = Deployment.objects.create(
        project=project,
        number=number,
        trace_id=f"t{number}",
        git_url=project.git_url,
        status=status,
        finished_at=timezone.now() - timedelta(seconds=live_ago),
        image_tag=f"img:{number}",
    )
    runtime.images[deployment.image_tag] = ImageInfo(
        id=f"sha{number}", tags=[deployment.image_tag], labels={}, created=timezone.now()
    )
    info = runtime.run_container(
        ContainerSpec(
            name=f"c{number}",
            image=deployment.image_tag,
            env={},
            labels={"butler.project": str(project.id), "butler.deployment": str(deployment.id)},
            container_port=8000,
            network="n",
            memory="64m",
            cpus=0.5,
        )
    )
    Deployment.objects.filter(id=deployment.id).update(container_id=info.id)
    return deployment


def names(runtime) -> set[str]:
    return {c.info.name for c in runtime.containers.values()}


def test_quick_redeploys_retire_each_container_after_its_own_grace(settings):
    settings.BUTLER_RETIRE_SECONDS = 10
    runtime = FakeRuntime()
    project = ProjectFactory()
    # Four deploys in a row: c1 was replaced 30 s ago, c2 12 s ago, c3 just now (by c4).
    _deployment(runtime, project, 1, S.SUPERSEDED, live_ago=40)
    _deployment(runtime, project, 2, S.SUPERSEDED, live_ago=30)
    _deployment(runtime, project, 3, S.SUPERSEDED, live_ago=12)
    _deployment(runtime, project, 4, S.RUNNING, live_ago=1)

    assert sorted(retire_replaced(project_id=project.id, runtime=runtime)) == ["c1", "c2"]
    assert names(runtime) == {"c3", "c4"}  # c3 still finishes its in-flight requests
    assert retire_replaced(project_id=project.id, runtime=runtime, force=True) == ["c3"]
    assert names(runtime) == {"c4"}

"""The deployment log as the worker writes it: masked, batched, flushed when output goes
quiet, capped with markers that say what was dropped, and published with its seq range."""

from __future__ import annotations

import time

import pytest

from core import events
from deployments.models import Deployment, LogLine
from deployments.pipeline.logs import DeploymentLog, deployment_log_closed
from tests.factories import ProjectFactory


@pytest.fixture
def deployment(alice):
    project = ProjectFactory(owner=alice)
    return Deployment.objects.create(
        project=project, number=1, trace_id="t", git_url=project.git_url, status="building"
    )


@pytest.fixture
def published():
    got: list[events.Event] = []
    unsubscribe = events.subscribe(got.append)
    yield got
    unsubscribe()


def stored(deployment) -> list[tuple[int, str, str]]:
    return list(deployment.log_lines.order_by("seq").values_list("seq", "stream", "text"))


def test_values_of_the_variables_are_masked_before_they_are_stored(deployment):
    log = DeploymentLog(deployment)
    log.secrets = ["s3cr3t-value", "-----BEGIN KEY-----\nMIIBVgIBADANBgkq\n-----END KEY-----"]
    log.build("token=s3cr3t-value and more")
    log.build("MIIBVgIBADANBgkq")  # one line of a multi-line value
    log.info("done")
    texts = [text for _, _, text in stored(deployment)]
    assert texts == ["token=**** and more", "****", "done"]


def test_build_output_is_stored_in_batches_and_published_with_its_range(
    deployment, published, django_capture_on_commit_callbacks, settings
):
    settings.BUTLER_LOG_FLUSH_SECONDS = 60
    log = DeploymentLog(deployment)
    with django_capture_on_commit_callbacks(execute=True):
        log.build("step 1")  # the first line after a quiet spell: at once
        log.build("step 2")
        log.build("step 3")
    assert [seq for seq, _, _ in stored(deployment)] == [1]  # the rest wait for a batch
    with django_capture_on_commit_callbacks(execute=True):
        log.info("built")
    assert [seq for seq, _, _ in stored(deployment)] == [1, 2, 3, 4]
    batches = [e for e in published if e.type == events.DEPLOYMENT_LOG]
    assert [(e.data["first_seq"], e.data["last_seq"]) for e in batches] == [(1, 1), (2, 4)]
    assert [line["text"] for line in batches[1].data["lines"]] == ["step 2", "step 3", "built"]
    assert all(line["time"] for line in batches[1].data["lines"])


def test_beyond_the_cap_output_is_counted_not_stored_and_the_end_says_how_much(
    deployment, settings
):
    settings.BUTLER_LOG_MAX_LINES = 100
    log = DeploymentLog(deployment)
    log.info("Building")
    for n in range(1, 1001):
        log.build(f"flood {n}")
    log.flush()  # as after the build
    log.error("The build failed")
    rows = stored(deployment)
    assert [text for _, stream, text in rows if stream == "build"] == [
        f"flood {n}" for n in range(1, 100)
    ]
    warnings = [text for _, stream, text in rows if stream == "warning"]
    assert warnings == [
        "The log has reached BUTLER_LOG_MAX_LINES (100 lines): further build and app output "
        "is counted, not stored.",
        "901 lines of build and app output were not stored (over BUTLER_LOG_MAX_LINES=100).",
    ]
    assert rows[-1][1:] == ("error", "The build failed")  # the pipeline's word still gets in
    assert log.dropped == 901
    assert len(rows) == 103


def test_the_count_marker_is_written_once_however_often_the_log_is_flushed(deployment, settings):
    settings.BUTLER_LOG_MAX_LINES = 10
    log = DeploymentLog(deployment)
    for n in range(50):
        log.build(f"x {n}")
    log.flush()
    log.flush()
    log.info("end")
    counts = [text for _, _, text in stored(deployment) if "were not stored" in text]
    assert counts == [
        "40 lines of build and app output were not stored (over BUTLER_LOG_MAX_LINES=10)."
    ]


@pytest.mark.django_db(transaction=True)
def test_a_line_followed_by_silence_is_stored_soon_by_the_flusher(deployment, settings):
    settings.BUTLER_LOG_FLUSH_SECONDS = 0.3
    log = DeploymentLog(deployment)
    log.build("Step 2/9 : COPY . .")  # stored at once: the first line
    log.build("Step 3/9 : RUN pip install -r requirements.txt")  # then a long quiet step
    assert len(stored(deployment)) == 1
    deadline = time.monotonic() + 2
    while len(stored(deployment)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stored(deployment)[-1] == (2, "build", "Step 3/9 : RUN pip install -r requirements.txt")


def test_closing_the_log_announces_its_last_seq(
    deployment, published, django_capture_on_commit_callbacks
):
    DeploymentLog(deployment).info("only line")
    with django_capture_on_commit_callbacks(execute=True):
        deployment_log_closed(deployment_id=deployment.id)
    closing = published[-1]
    assert closing.type == events.DEPLOYMENT_LOG
    assert closing.data["closed"] is True and closing.data["last_seq"] == 1


@pytest.mark.django_db(transaction=True)
def test_lines_of_a_deleted_deployment_are_dropped_quietly(deployment):
    log = DeploymentLog(deployment)
    Deployment.objects.filter(id=deployment.id).delete()
    log.info("after the delete")
    assert not LogLine.objects.exists()

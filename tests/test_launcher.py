"""The supervisor (`butler_site/launcher.py`, run as `python -S`): a service that dies is
started again and its after-restart command runs; a web server or worker that dies still
stops everything."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from django.conf import settings

LAUNCHER = Path(settings.BASE_DIR) / "butler_site" / "launcher.py"

# Becomes the supervisor of two children it starts, as runbutler does.
START = """
import os, subprocess, sys
web = subprocess.Popen(["sleep", "300"], start_new_session=True)
svc = subprocess.Popen(["sleep", "301"], start_new_session=True)
os.execv(sys.executable, [sys.executable, "-S", {launcher!r}, "--child", f"web={{web.pid}}",
    "--service", f"svc={{svc.pid}}", "--restart", {restart!r}, "--after-restart", {after!r},
    "--log", {log!r}])
"""


def wait_until(check, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def supervisor(tmp_path):
    marker = tmp_path / "synced"
    code = START.format(
        launcher=str(LAUNCHER),
        restart="svc=" + json.dumps(["sleep", "301"]),
        after="svc=" + json.dumps(["sh", "-c", f"echo once >> {marker}"]),
        log=f"svc={tmp_path / 'svc.log'}",
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_until(lambda: len(psutil.Process(process.pid).children()) == 2)
    yield process, marker
    if process.poll() is None:
        for child in psutil.Process(process.pid).children(recursive=True):
            child.kill()
        process.kill()
        process.wait()


def children(process) -> dict[str, psutil.Process]:
    found = {}
    for child in psutil.Process(process.pid).children():
        try:
            found[" ".join(child.cmdline())] = child
        except psutil.Error:  # a zombie not reaped yet, or gone
            continue
    return found


def test_a_dead_service_is_started_again_and_synced(supervisor):
    process, marker = supervisor
    first = children(process)["sleep 301"]
    first.kill()
    wait_until(lambda: marker.exists())
    again = wait_until(lambda: children(process).get("sleep 301"))
    assert again.pid != first.pid
    assert process.poll() is None  # Butler keeps running
    again.kill()  # and once more: every death brings it back
    wait_until(lambda: marker.read_text().count("once") == 2)
    assert wait_until(lambda: children(process).get("sleep 301")).pid != again.pid


def test_a_dead_web_server_still_stops_everything(supervisor):
    process, _marker = supervisor
    kids = list(children(process).values())
    children(process)["sleep 300"].kill()
    process.wait(timeout=30)
    assert process.returncode != 0
    _gone, alive = psutil.wait_procs(kids, timeout=10)
    assert alive == []
    assert "web exited" in process.stderr.read()

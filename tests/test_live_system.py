"""Live logs as a new user sees them, end to end on the embedded default: a real Butler
(`runbutler`: daphne + a worker process, SQLite, no Redis), a real deploy, real sockets.

Lines of the build must arrive while the build runs, not once it is over; the running app's
own output (a request it served) must show up on the runtime log socket; and the token a
browser puts in the query string must appear in nothing Butler prints."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests import samples
from tests.test_system import butler, wait_until  # noqa: F401 - the fixture

pytestmark = pytest.mark.docker


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


class Recorder(threading.Thread):
    """Connects a socket and reads it to its end, noting when each message arrived."""

    def __init__(self, url: str, **options):
        super().__init__(daemon=True)
        self.url, self.options = url, {"proxy": None, "max_size": 2**24, **options}
        self.messages: list[tuple[float, dict]] = []
        self.close_code: int | None = None
        self.connected = threading.Event()
        self.ws = None

    def start(self):
        super().start()
        assert self.connected.wait(timeout=10), "could not connect"
        return self

    def run(self):
        with connect(self.url, **self.options) as ws:
            self.ws = ws
            self.connected.set()
            try:
                while True:
                    message = json.loads(ws.recv(timeout=300))
                    self.messages.append((time.time(), message))
            except ConnectionClosed:
                self.close_code = ws.close_code
            except TimeoutError:
                pass

    def lines(self) -> list[tuple[float, dict]]:
        return [(at, ln) for at, m in self.messages if m["type"] == "log" for ln in m["lines"]]


def test_a_new_user_watches_the_deploy_and_then_the_running_app_live(butler):  # noqa: F811
    base = butler["base"]
    user = {"username": "watcher", "email": "w@example.com", "password": "a-long-passphrase"}
    assert requests.post(f"{base}/api/auth/register", json=user, timeout=10).status_code == 201
    token = requests.post(f"{base}/api/auth/login", json=user, timeout=10).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    origin = base
    repo = samples.live_repo(butler["repos"] / "live", build_ticks=6, tick_seconds=1.0)

    events = Recorder(ws_url(base, f"/ws/events/?token={token}"), origin=origin).start()
    queued = requests.post(f"{base}/deploy", data={"git_url": str(repo)}, headers=auth, timeout=10)
    assert queued.status_code == 202
    deployment_id, project_id = queued.json()["deployment_id"], queued.json()["project_id"]

    # The browser's way: the token in the query string, an Origin of this site.
    log = Recorder(
        ws_url(base, f"/ws/deployments/{deployment_id}/?token={token}"), origin=origin
    ).start()
    log.join(timeout=240)
    assert log.close_code == 1000, log.messages[-3:]
    statuses = [m["status"] for _, m in log.messages if m["type"] == "status"]
    assert statuses[-1] == "running", log.messages[-5:]
    assert {"building", "starting"} <= set(statuses)
    lines = log.lines()
    texts = [ln["text"] for _, ln in lines]
    assert any(t.startswith("Cloning ") for t in texts), texts[:5]
    assert any(t.startswith("Deployment successful!") for t in texts), texts[-5:]
    seqs = [ln["seq"] for _, ln in lines]
    assert seqs == sorted(set(seqs))
    ticks = [(at, ln["text"]) for at, ln in lines if ln["text"].startswith("build tick")]
    assert len(ticks) == 6, texts
    # While the build runs: the first tick arrives seconds before the last is printed, and
    # each arrives soon after the build printed it.
    assert ticks[-1][0] - ticks[0][0] > 3.5
    delays = [at - float(text.split()[-1]) for at, text in ticks]
    assert max(delays) < 1.5, delays

    # The app runs: follow its own output (the CLI's way: a bearer header and no Origin).
    deployed = requests.get(f"{base}/api/deployments/{deployment_id}", headers=auth, timeout=10)
    url = deployed.json()["deployed_url"]
    runtime = Recorder(
        ws_url(base, f"/ws/projects/{project_id}/logs/?tail=5"), additional_headers=auth
    ).start()
    time.sleep(1)
    assert samples.LIVE_MARKER in requests.get(f"{url}/hello-from-the-test", timeout=10).text

    def request_logged():
        return any("GET /hello-from-the-test" in ln["text"] for _, ln in runtime.lines())

    wait_until(request_logged, timeout=10)
    line = next(ln for _, ln in runtime.lines() if "GET /hello-from-the-test" in ln["text"])
    assert line["stream"] == "stderr"  # http.server logs requests on stderr
    answer = requests.get(
        f"{base}/api/projects/{project_id}/logs?tail=20", headers=auth, timeout=10
    )
    assert any("GET /hello-from-the-test" in ln["text"] for ln in answer.json()["lines"])

    # Deleting the project ends the runtime stream, saying why.
    requests.delete(f"{base}/projects/{project_id}", headers=auth, timeout=30)
    runtime.join(timeout=20)
    assert runtime.close_code == 1000
    assert runtime.messages[-1][1]["type"] == "end"

    def deleted_seen():
        return any(m["type"] == "project.deleted" for _, m in events.messages)

    wait_until(deleted_seen, timeout=10)
    seen = [m for _, m in events.messages if m["type"] == "deployment.status"]
    assert [m["status"] for m in seen if m["deployment_id"] == deployment_id][-1] == "running"
    events.ws.close()

    output = butler["output"].read_text(errors="replace")
    assert f"/ws/deployments/{deployment_id}/" in output  # daphne's access log is there...
    assert token not in output  # ...without the token

"""Butler as a user runs it: `manage.py runbutler` (daphne + worker) and the HTTP API alone."""

from __future__ import annotations

import itertools
import re
import signal
import threading
import time

import psutil
import pytest
import requests

from tests import samples
from tests.docker_fixtures import docker_cli
from tests.live_butler import RealButler, _answers, remove_everything, wait_until

pytestmark = pytest.mark.docker


@pytest.fixture
def butler(tmp_path):
    """A real Butler on a free port, its own data dir and Docker instance label."""
    real = RealButler(tmp_path)
    try:
        real.start()
        yield real
    finally:
        remove_everything(real)


def test_a_new_user_deploys_a_site_with_curl_alone_and_deletes_it(butler):
    base = butler["base"]
    user = {"username": "newbie", "email": "newbie@example.com", "password": "a-long-passphrase"}
    assert requests.post(f"{base}/api/auth/register", json=user, timeout=10).status_code == 201
    token = requests.post(f"{base}/api/auth/login", json=user, timeout=10).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    repo = samples.static_repo(butler["repos"] / "site")

    queued = requests.post(f"{base}/deploy", data={"git_url": str(repo)}, headers=auth, timeout=10)
    assert queued.status_code == 202
    deployment_id = queued.json()["deployment_id"]

    def finished():
        body = requests.get(
            f"{base}/api/deployments/{deployment_id}", headers=auth, timeout=10
        ).json()
        return body if body["status"] in ("running", "failed") else None

    deployment = wait_until(finished, timeout=180)
    assert deployment["status"] == "running", deployment["error"]
    assert samples.STATIC_MARKER in requests.get(deployment["deployed_url"], timeout=10).text
    listed = requests.get(f"{base}/deployments", headers=auth, timeout=10).json()
    assert [p["status"] for p in listed] == ["running"]

    deleted = requests.delete(
        f"{base}/projects/{deployment['project_id']}", headers=auth, timeout=30
    )
    assert deleted.status_code == 200
    filters = (
        *("--filter", f"label=butler.project={deployment['project_id']}"),
        *("--filter", f"label=butler.instance={butler.instance}"),
    )
    assert docker_cli("ps", "-aq", *filters).split() == []
    assert docker_cli("images", "-q", *filters).split() == []
    assert not _answers(deployment["deployed_url"])


def _get(url: str, host: str | None = None) -> requests.Response:
    return requests.get(url, headers={"Host": host} if host else {}, timeout=10)


def test_a_bookmarked_url_shows_each_new_version_and_survives_a_restart(butler):
    """Deploy, bookmark the URL, change the code, redeploy, refresh: the new page, and no
    error in between; then Butler restarts and the bookmark still works."""
    auth = butler.login("bookmarker")
    repo = samples.env_page_repo(butler.repos / "site", marker="first page")
    queued = requests.post(
        f"{butler.base}/deploy", data={"git_url": str(repo)}, headers=auth, timeout=10
    ).json()
    first = butler.finished(auth, queued["deployment_id"])
    assert first["status"] == "running", first["error"]
    bookmark = first["deployed_url"]
    assert "first page" in _get(bookmark).text

    errors: list[str] = []
    seen: set[str] = set()
    stop = threading.Event()

    def refresh():
        while not stop.is_set():
            try:
                answer = _get(bookmark)
                if answer.status_code != 200:
                    errors.append(f"{answer.status_code} {answer.text[:100]}")
                seen.add("second page" if "second page" in answer.text else "first page")
            except requests.RequestException as exc:
                errors.append(repr(exc))
            time.sleep(0.05)

    user = threading.Thread(target=refresh, daemon=True)
    user.start()
    samples.env_page_repo(butler.repos / "site", marker="second page")
    again = requests.post(
        f"{butler.base}/deploy", data={"project_id": first["project_id"]}, headers=auth, timeout=10
    ).json()
    second = butler.finished(auth, again["deployment_id"])
    # The user's own refreshes (not one of ours) must come to see the new version.
    wait_until(lambda: "second page" in seen, timeout=10)
    stop.set()
    user.join(timeout=10)
    assert second["deployed_url"] == bookmark
    assert errors == [] and seen == {"first page", "second page"}

    project = requests.get(
        f"{butler.base}/api/projects/{first['project_id']}", headers=auth, timeout=10
    ).json()
    butler.stop()
    butler.start()  # Butler (and its Caddy) restart: the container kept running
    assert "second page" in _get(bookmark).text
    name = f"http://127.0.0.1:{butler.http_port}/"
    assert "second page" in _get(name, project["hostname"]).text
    after = requests.get(
        f"{butler.base}/api/projects/{first['project_id']}", headers=auth, timeout=10
    ).json()
    assert after["deployed_url"] == bookmark and after["public_port"] == project["public_port"]


def test_a_killed_caddy_comes_back_with_every_route(butler):
    auth = butler.login("resilient")
    urls, names = [], []
    for n in range(2):
        repo = samples.env_page_repo(butler.repos / f"app{n}", marker=f"app number {n}")
        queued = requests.post(
            f"{butler.base}/deploy", data={"git_url": str(repo)}, headers=auth, timeout=10
        ).json()
        done = butler.finished(auth, queued["deployment_id"])
        assert done["status"] == "running", done["error"]
        urls.append(done["deployed_url"])
    domain = requests.post(
        f"{butler.base}/api/projects/{done['project_id']}/domains",
        json={"domain": "www.resilient.test"},
        headers=auth,
        timeout=10,
    ).json()
    names = [domain["hostname"], "www.resilient.test"]
    shared = f"http://127.0.0.1:{butler.http_port}/"
    assert "app number 1" in _get(shared, "www.resilient.test").text

    caddy = butler.caddy
    caddy.kill()
    caddy.wait(timeout=10)
    killed = time.monotonic()
    for n, url in enumerate(urls):
        wait_until(lambda url=url, n=n: f"app number {n}" in _try(url), timeout=30)
    back_after = time.monotonic() - killed
    for name in names:
        assert "app number 1" in _get(shared, name).text
    assert _get(shared, "nobody.resilient.test").status_code == 404
    assert butler.caddy.pid != caddy.pid
    assert back_after < 15, f"routes came back after {back_after:.1f} s"
    assert butler.process.poll() is None  # Butler itself kept running


def _try(url: str) -> str:
    try:
        return requests.get(url, timeout=5).text
    except requests.RequestException:
        return ""


def test_a_burst_of_deploys_runs_one_build_of_a_project_at_a_time(butler):
    """20 deploy requests of one project within a second, against real workers."""
    from concurrent.futures import ThreadPoolExecutor

    base = butler["base"]
    user = {"username": "bursty", "email": "bursty@example.com", "password": "a-long-passphrase"}
    requests.post(f"{base}/api/auth/register", json=user, timeout=10)
    token = requests.post(f"{base}/api/auth/login", json=user, timeout=10).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    repo = samples.dockerfile_repo(butler["repos"] / "bursty", marker="bursty")
    first = requests.post(
        f"{base}/api/import", json={"git_url": str(repo)}, headers=auth, timeout=10
    )
    project_id = first.json()["project_id"]

    def one(_n):
        started = time.monotonic()
        answer = requests.post(
            f"{base}/deploy", data={"project_id": project_id}, headers=auth, timeout=10
        )
        return answer.status_code, time.monotonic() - started, answer.json()["deployment_id"]

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(one, range(20)))
    assert [code for code, _, _ in answers] == [202] * 20
    assert max(seconds for _, seconds, _ in answers) < 2

    def all_done():
        rows = requests.get(
            f"{base}/api/projects/{project_id}/deployments?page_size=50", headers=auth, timeout=10
        ).json()
        return (
            rows
            if all(r["status"] not in ("queued", "cloning", "building", "starting") for r in rows)
            else None
        )

    rows = wait_until(all_done, timeout=240)
    outcomes = sorted(r["status"] for r in rows)
    ran = [r for r in rows if r["status"] in ("running", "superseded")]
    assert 1 <= len(ran) <= 2, outcomes
    assert outcomes.count("cancelled") == 20 - len(ran), outcomes
    assert any(r["status"] == "running" for r in rows)
    started = sorted((r["started_at"], r["finished_at"]) for r in rows if r["started_at"])
    for (_, first_end), (second_start, _) in itertools.pairwise(started):
        assert first_end <= second_start, "two deployments of one project overlapped"
    newest = max(rows, key=lambda r: r["number"])
    assert newest["status"] == "running"  # the last request is what runs
    requests.delete(f"{base}/projects/{project_id}", headers=auth, timeout=30)


def test_stopping_butler_stops_web_and_worker(butler):
    process = butler["process"]
    children = psutil.Process(process.pid).children(recursive=True)
    commands = [" ".join(child.cmdline()).strip() for child in children]
    assert "butler web" in commands, commands  # daphne, forked from runbutler
    assert any(c.startswith("qcluster MainProcess") for c in commands), commands
    assert any(c.endswith("caddy run") for c in commands), commands
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    _gone, alive = psutil.wait_procs(children, timeout=30)
    assert alive == []


def test_killing_the_worker_takes_its_processes_and_its_build_down(butler):
    base = butler["base"]
    user = {"username": "killer", "email": "killer@example.com", "password": "a-long-passphrase"}
    requests.post(f"{base}/api/auth/register", json=user, timeout=10)
    token = requests.post(f"{base}/api/auth/login", json=user, timeout=10).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    repo = samples.slow_build_repo(butler["repos"] / "slow", seconds=120)
    queued = requests.post(f"{base}/deploy", data={"git_url": str(repo)}, headers=auth, timeout=10)
    deployment_id = queued.json()["deployment_id"]
    logs_url = f"{base}/api/deployments/{deployment_id}/logs?limit=2000"

    def building():
        lines = requests.get(logs_url, headers=auth, timeout=10).json()["lines"]
        text = "\n".join(line["text"] for line in lines)
        steps = re.findall(r"Running in ([0-9a-f]{12})", text)
        return steps[-1] if "sleeping" in text and steps else None

    step = wait_until(building, timeout=120)
    # The build runs (asked until the engine lists the step container, a busy engine lags).
    wait_until(lambda: docker_cli("ps", "-q", "--filter", f"id={step}").strip(), timeout=15)
    supervisor = psutil.Process(butler["process"].pid)
    everything = supervisor.children(recursive=True)
    main = next(p for p in everything if " ".join(p.cmdline()).startswith("qcluster MainProcess"))
    main.send_signal(signal.SIGKILL)
    assert butler["process"].wait(timeout=40) != 0  # the supervisor stopped Butler
    _gone, alive = psutil.wait_procs(everything, timeout=30)
    assert alive == [], [" ".join(p.cmdline()) for p in alive]
    label = f"label=butler.instance={butler['instance']}"
    # The engine stops the build once the worker's connection is gone.
    wait_until(lambda: docker_cli("ps", "-aq", "--filter", f"id={step}").strip() == "", 40)
    assert docker_cli("ps", "-aq", "--filter", label).split() == []

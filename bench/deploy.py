"""Benchmark deploys: Butler against the same work done by hand with the docker CLI.

    .venv/bin/python bench/deploy.py [--rounds 4] [--apps flask,express]

Starts a real Butler (`manage.py runbutler`: daphne + the django-q2 worker) on a free port
with a throwaway data dir, makes a small Flask and a small Express repo, and prints:

(a) cold deploy, from the API call to the URL answering, against a baseline measured in the
    same run: a shallow `git clone`, `docker build --no-cache` of the same Dockerfile,
    `docker run` and polling the URL until it answers, done with the docker CLI. A warm-up
    fills the package registries' caches first; then each round gives each side its own copy
    of the repo (differing only in a comment of the dependency manifest, so neither reuses
    the other's image layers) and alternates which side goes first. Target: ratio <= 1.10.
(b) a redeploy of the unchanged commit, API call to URL answering. Target: < 3 s.
(c) rollback to the previous release of the Flask app, from the API call to the old page
    answering. Target: <= 1.0 s.
(d) 20 deploy requests of one project within one second: every answer a 202 within 2 s,
    never two builds of the project at once, at most two deploys end running/superseded,
    the rest cancelled.
(e) disk taken by one project's images after 20 redeploys, each with a changed page.
(f) memory of the web and worker processes together, idle (after start-up) and at the peak
    of the deploys, as PSS (shared pages counted once, which is what the processes really
    cost) and as RSS. Targets: idle PSS <= 150 MB, peak PSS <= 250 MB.

Everything it creates (containers, images, the data dir, the repos) is removed at the end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import samples  # noqa: E402

PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, body: dict | None = None, token: str | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def answers(url: str, marker: str | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            if marker is not None:
                return marker in response.read().decode("utf-8", "replace")
            return response.status < 500
    except Exception:
        return False


def wait_for(predicate, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("gave up waiting")


def _title(proc: psutil.Process) -> str:
    """`pid what`: the process title (set by runbutler and django-q2), else its command."""
    words = " ".join(proc.cmdline()).split()
    if words and words[0].endswith(("python", "python3")):
        words = words[1:4]
    return f"{proc.pid} {' '.join(words[:3])}"


def _butler_processes(root: psutil.Process) -> list[psutil.Process]:
    """Butler's own processes: the supervisor, web, worker and what they run (git, docker
    compose), but not Caddy, the front proxy, which (f) reports on its own line."""
    return [p for p in [root, *root.children(recursive=True)] if _name(p) != "caddy"]


def _name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return ""


def caddy_memory(root_pid: int) -> tuple[int, int]:
    pss = rss = 0
    for proc in psutil.Process(root_pid).children(recursive=True):
        if _name(proc) == "caddy":
            try:
                info = proc.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            pss, rss = pss + info.pss, rss + info.rss
    return pss, rss


class MemorySampler(threading.Thread):
    """Samples PSS and RSS of Butler's process tree (web + worker, not Caddy) every 100 ms."""

    def __init__(self, root_pid: int):
        super().__init__(daemon=True)
        self.root = psutil.Process(root_pid)
        self.peak_pss = self.peak_rss = 0
        self.per_process: dict[str, int] = {}  # peak PSS by "pid command"
        self.names: dict[int, str] = {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            pss = rss = 0
            for proc in _butler_processes(self.root):
                try:
                    info = proc.memory_full_info()
                    key = self.names.setdefault(proc.pid, _title(proc))
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                pss += info.pss
                rss += info.rss
                self.per_process[key] = max(self.per_process.get(key, 0), info.pss)
            self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
            self.stop.wait(0.1)


class Butler:
    """A real Butler started the way `make run` starts it, on a throwaway data dir."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.instance = "bench" + secrets.token_hex(4)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "butler_site.settings",
            "BUTLER_DATA_DIR": str(workdir / "data"),
            "BUTLER_LOCAL_GIT_ROOTS": str(workdir / "repos"),
            "BUTLER_INSTANCE_ID": self.instance,
            "BUTLER_COMPOSE_PREFIX": self.instance,
            "LOG_LEVEL": "WARNING",
            # Its front proxy on ports nothing else uses (apps answer at its public ports).
            "BUTLER_HTTP_PORT": str(free_port()),
            "BUTLER_HTTPS_PORT": str(free_port()),
        }
        if "BUTLER_PROXY_PORTS" in os.environ:
            self.env["BUTLER_PROXY_PORTS"] = os.environ["BUTLER_PROXY_PORTS"]
        for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY"):
            self.env.pop(name, None)
        self.process: subprocess.Popen | None = None
        self.token = ""

    def start(self) -> None:
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=self.env, check=True
        )
        self.process = subprocess.Popen(
            [PYTHON, "manage.py", "runbutler", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: answers(f"{self.base}/health"), timeout=60)
        user = {
            "username": "bench",
            "email": "bench@example.com",
            "password": "bench-pass-phrase-1",
        }
        http("POST", f"{self.base}/api/auth/register", user)
        self.token = http("POST", f"{self.base}/api/auth/login", user)["access_token"]

    def deploy(self, **form) -> tuple[float, dict]:
        """Seconds from the API call to the deployed URL answering, and the deployment."""
        started = time.monotonic()
        queued = http("POST", f"{self.base}/deploy", form, self.token)
        deployment = self.wait(queued["deployment_id"])
        return time.monotonic() - started, deployment

    def wait(self, deployment_id: int, interval: float = 0.3, marker: str | None = None) -> dict:
        """The deployment once it runs and its URL answers (with `marker`, if given)."""
        url = f"{self.base}/api/deployments/{deployment_id}"

        def finished():
            body = http("GET", url, token=self.token)
            return body if body["status"] in ("running", "failed", "cancelled") else None

        # Poll gently: each status request costs the web process CPU the build would use.
        deployment = wait_for(finished, timeout=900, interval=interval)
        if deployment["status"] != "running":
            raise RuntimeError(f"deploy failed: {deployment['error']}")
        wait_for(lambda: answers(deployment["deployed_url"], marker), timeout=60, interval=0.02)
        return deployment

    def delete(self, project_id: int) -> None:
        http("DELETE", f"{self.base}/projects/{project_id}", token=self.token)

    def remove_docker_objects(self) -> None:
        """Every container, image and network this Butler made (by its instance label)."""
        label = f"label=butler.instance={self.instance}"
        for listing, removal in (
            (["ps", "-aq"], ["rm", "-f"]),
            (["images", "-q"], ["rmi", "-f"]),
            (["network", "ls", "-q"], ["network", "rm"]),
        ):
            found = subprocess.run(
                ["docker", *listing, "--filter", label], capture_output=True, text=True
            ).stdout.split()
            if found:
                subprocess.run(["docker", *removal, *found], capture_output=True)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


BY_HAND_PHASES: dict[str, float] = {}


def by_hand(repo: Path, deployment: dict, workdir: Path) -> float:
    """The same clone, build, run and wait, with git and the docker CLI."""
    tag = f"bench-baseline:{secrets.token_hex(4)}"
    name = f"bench-baseline-{secrets.token_hex(4)}"
    clone = workdir / f"baseline-{secrets.token_hex(4)}"
    port = deployment["container_port"]
    started = time.monotonic()
    try:
        subprocess.run(
            ["git", "clone", "-q", "--depth", "1", "--", repo.as_uri(), str(clone)], check=True
        )
        dockerfile = "Dockerfile"
        if deployment["generated_dockerfile"]:
            dockerfile = "Dockerfile.butler"
            (clone / dockerfile).write_text(deployment["generated_dockerfile"])
        BY_HAND_PHASES["clone"] = time.monotonic() - started
        subprocess.run(
            ["docker", "build", "-q", "--no-cache", "-f", dockerfile, "-t", tag, "."],
            cwd=clone,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(
            [
                "docker",
                "run",
                "-d",
                "--name",
                name,
                "-e",
                f"PORT={port}",
                "-p",
                f"127.0.0.1::{port}",
                tag,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        published = subprocess.run(
            ["docker", "port", name, f"{port}/tcp"], check=True, capture_output=True, text=True
        ).stdout.split()[0]
        wait_for(lambda: answers(f"http://{published}/"), timeout=120)
        return time.monotonic() - started
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
        shutil.rmtree(clone, ignore_errors=True)


def make_repo(app: str, path: Path, nonce: str) -> Path:
    """A sample app whose dependency manifest is new (so no layer cache applies)."""
    if app == "flask":
        repo = samples.flask_repo(path, marker=f"bench {nonce}")
        requirements = repo / "requirements.txt"
        requirements.write_text(requirements.read_text() + f"# bench {nonce}\n")
    elif app == "express":
        repo = samples.express_repo(path, marker=f"bench {nonce}")
        package = json.loads((repo / "package.json").read_text())
        package["description"] = f"bench {nonce}"
        (repo / "package.json").write_text(json.dumps(package, indent=2) + "\n")
    else:
        raise SystemExit(f"unknown app {app}")
    return samples._commit(repo, f"bench {nonce}")


def rollback_seconds(butler: Butler, workdir: Path) -> list[float]:
    """(c) Flask v1, then v2 with another page; roll back: API call to the v1 page answering."""
    path = workdir / "repos" / "flask-rollback"
    timings = []
    _, first = butler.deploy(git_url=str(samples.flask_repo(path, marker="rollback page one")))
    project_id = first["project_id"]
    for round_no in range(3):
        samples.flask_repo(path, marker=f"rollback page two {round_no}")
        butler.deploy(project_id=project_id)
        started = time.monotonic()
        queued = http(
            "POST",
            f"{butler.base}/api/projects/{project_id}/rollback",
            {"deployment_id": first["id"]},
            butler.token,
        )
        butler.wait(queued["deployment_id"], interval=0.05, marker="rollback page one")
        timings.append(time.monotonic() - started)
    butler.delete(project_id)
    return timings


def burst(butler: Butler, workdir: Path) -> dict:
    """(d) 20 deploy requests of one project within a second."""
    from concurrent.futures import ThreadPoolExecutor

    repo = samples.flask_repo(workdir / "repos" / "flask-burst", marker="burst")
    project = http("POST", f"{butler.base}/api/import", {"git_url": str(repo)}, butler.token)
    project_id = project["project_id"]

    def one(n: int) -> float:
        time.sleep(n / 20)  # spread over one second
        started = time.monotonic()
        http("POST", f"{butler.base}/deploy", {"project_id": project_id}, butler.token)
        return time.monotonic() - started

    with ThreadPoolExecutor(max_workers=20) as pool:
        answer_times = list(pool.map(one, range(20)))
    url = f"{butler.base}/api/projects/{project_id}/deployments?page_size=50"

    def settled():
        rows = http("GET", url, token=butler.token)
        unfinished = {"queued", "cloning", "building", "starting"}
        return rows if not any(r["status"] in unfinished for r in rows) else None

    rows = wait_for(settled, timeout=600, interval=0.5)
    spans = sorted((r["started_at"], r["finished_at"]) for r in rows if r["started_at"])
    overlaps = sum(1 for a, b in itertools.pairwise(spans) if a[1] > b[0])
    butler.delete(project_id)
    return {
        "requests": len(answer_times),
        "slowest_answer": max(answer_times),
        "outcomes": statistics_count(r["status"] for r in rows),
        "overlapping_builds": overlaps,
    }


def statistics_count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


def disk_after_redeploys(butler: Butler, workdir: Path, redeploys: int = 20) -> dict:
    """(e) The project's images after `redeploys` deploys with a changed page each time."""
    path = workdir / "repos" / "flask-disk"
    _, first = butler.deploy(git_url=str(samples.flask_repo(path, marker="disk 0")))
    project_id = first["project_id"]
    for n in range(1, redeploys + 1):
        samples.flask_repo(path, marker=f"disk {n}")
        butler.deploy(project_id=project_id)
    # The replaced containers keep their in-flight requests for BUTLER_RETIRE_SECONDS, and
    # their images stay while they do: count once they have gone, as a user's disk sees it.
    retired_by = time.monotonic() + 60
    while time.monotonic() < retired_by and len(_containers(butler, project_id)) > 1:
        time.sleep(0.5)
    label = f"label=butler.project={project_id}"
    ids = subprocess.run(
        [
            "docker",
            "images",
            "-q",
            "--no-trunc",
            "--filter",
            label,
            "--filter",
            f"label=butler.instance={butler.instance}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    unique = shared = 0
    report = json.loads(
        subprocess.run(
            ["docker", "system", "df", "-v", "--format", "{{json .}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    for image in report.get("Images") or []:
        if any(
            image_id.endswith(image["ID"].split(":")[-1])
            or image_id.split(":")[-1].startswith(image["ID"])
            for image_id in ids
        ):
            unique += _bytes(image.get("UniqueSize", "0B"))
            shared = max(shared, _bytes(image.get("SharedSize", "0B")))
    dangling = subprocess.run(
        ["docker", "images", "-q", "--filter", "dangling=true"], capture_output=True, text=True
    ).stdout.split()
    butler.delete(project_id)
    return {
        "images": len(ids),
        "unique_mb": unique / 2**20,
        "shared_mb": shared / 2**20,
        "dangling_images_on_engine": len(dangling),
    }


def _containers(butler: Butler, project_id: int) -> list[str]:
    return subprocess.run(
        [
            "docker",
            "ps",
            "-aq",
            "--filter",
            f"label=butler.project={project_id}",
            "--filter",
            f"label=butler.instance={butler.instance}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


def _bytes(text: str) -> float:
    units = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            return float(text[: -len(unit)] or 0) * units[unit]
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--apps", default="flask,express")
    parser.add_argument("--only", default="cold,rollback,burst,disk", help="sections to run")
    args = parser.parse_args()
    apps = args.apps.split(",")
    sections = set(args.only.split(","))

    workdir = Path(tempfile.mkdtemp(prefix="butler-bench-"))
    (workdir / "repos").mkdir()
    butler = Butler(workdir)
    results: dict[str, dict[str, list[float]]] = {
        app: {"butler": [], "hand": [], "redeploy": []} for app in apps
    }
    sampler = None
    idle: tuple[int, int] | None = None
    rollbacks: list[float] = []
    burst_report: dict | None = None
    disk: dict | None = None
    try:
        butler.start()
        time.sleep(3)  # let start-up settle: idle is what a waiting Butler costs
        idle = tree_memory(butler.process.pid)
        caddy_idle = caddy_memory(butler.process.pid)
        sampler = MemorySampler(butler.process.pid)
        sampler.start()
        if "cold" in sections:
            cold_rounds(butler, workdir, apps, args.rounds, results)
        if "rollback" in sections:
            rollbacks = rollback_seconds(butler, workdir)
            print(f"rollback: {', '.join(f'{t:.2f} s' for t in rollbacks)}", flush=True)
        if "burst" in sections:
            burst_report = burst(butler, workdir)
            print(f"burst: {burst_report}", flush=True)
        if "disk" in sections:
            disk = disk_after_redeploys(butler, workdir)
            print(f"disk: {disk}", flush=True)
    finally:
        if sampler:
            sampler.stop.set()
            sampler.join()
        butler.stop()
        butler.remove_docker_objects()
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    if "cold" in sections:
        print("(a) cold deploy, API call to URL answering, vs. the same steps by hand (median)")
        for app in apps:
            butler_s = statistics.median(results[app]["butler"])
            hand_s = statistics.median(results[app]["hand"])
            print(
                f"    {app:8s} butler {butler_s:6.1f} s   by hand {hand_s:6.1f} s   ratio {butler_s / hand_s:.2f}   (target <= 1.10)"
            )
        print("(b) redeploy of the unchanged commit (median)")
        for app in apps:
            print(
                f"    {app:8s} {statistics.median(results[app]['redeploy']):.2f} s   (target < 3 s)"
            )
    if rollbacks:
        print(
            f"(c) rollback, API call to the old page answering: median {statistics.median(rollbacks):.2f} s, "
            f"max {max(rollbacks):.2f} s   (target <= 1.0 s)"
        )
    if burst_report:
        print(
            f"(d) 20 deploys of one project in one second: slowest answer {burst_report['slowest_answer']:.2f} s "
            f"(target < 2 s), outcomes {burst_report['outcomes']}, overlapping builds "
            f"{burst_report['overlapping_builds']} (target 0)"
        )
    if disk:
        print(
            f"(e) after 20 redeploys with changes: {disk['images']} images kept, "
            f"{disk['unique_mb']:.1f} MB of their own + {disk['shared_mb']:.0f} MB shared with the "
            f"base image; {disk['dangling_images_on_engine']} dangling images on the engine"
        )
    if idle:
        print("(f) memory of web + worker processes (Caddy, the front proxy, on its own line)")
        print(
            f"    idle  PSS {idle[0] / 2**20:.0f} MB   RSS {idle[1] / 2**20:.0f} MB   (target PSS <= 150 MB)"
        )
        print(
            f"    Caddy idle  PSS {caddy_idle[0] / 2**20:.0f} MB   RSS {caddy_idle[1] / 2**20:.0f} MB"
        )
    if sampler:
        print(
            f"    peak  PSS {sampler.peak_pss / 2**20:.0f} MB   RSS {sampler.peak_rss / 2**20:.0f} MB   (target PSS <= 250 MB)"
        )
        for name, peak in sorted(sampler.per_process.items()):
            print(f"      {peak / 2**20:5.0f} MB  {name}")


def tree_memory(root_pid: int) -> tuple[int, int]:
    """PSS and RSS of a process and its descendants (Caddy aside), now."""
    root = psutil.Process(root_pid)
    pss = rss = 0
    for proc in _butler_processes(root):
        try:
            info = proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        pss, rss = pss + info.pss, rss + info.rss
    return pss, rss


def cold_rounds(butler: Butler, workdir: Path, apps: list[str], rounds: int, results) -> None:
    # Warm the package registries' caches once, so neither side pays for first downloads.
    for app in apps:
        warm = make_repo(app, workdir / "repos" / f"{app}-warm", secrets.token_hex(6))
        _, deployment = butler.deploy(git_url=str(warm))
        by_hand(warm, deployment, workdir)
        butler.delete(deployment["project_id"])
    for round_no in range(rounds):
        for app in apps:
            # Two copies differing only in a comment of the dependency manifest: the same
            # work, but neither side can reuse the other's image layers.
            mine = make_repo(app, workdir / "repos" / f"{app}-{round_no}", secrets.token_hex(6))
            theirs = make_repo(
                app, workdir / "repos" / f"{app}-{round_no}-hand", secrets.token_hex(6)
            )
            hand_first = round_no % 2 == 1
            if hand_first:
                _, template = butler.deploy(git_url=str(mine))
                butler.delete(template["project_id"])
                mine = make_repo(app, workdir / "repos" / f"{app}-{round_no}", secrets.token_hex(6))
                results[app]["hand"].append(by_hand(theirs, template, workdir))
            seconds, deployment = butler.deploy(git_url=str(mine))
            results[app]["butler"].append(seconds)
            if not hand_first:
                results[app]["hand"].append(by_hand(theirs, deployment, workdir))
            again, _ = butler.deploy(project_id=deployment["project_id"])
            results[app]["redeploy"].append(again)
            butler.delete(deployment["project_id"])
            print(
                f"round {round_no + 1} {app:8s} butler {seconds:6.1f} s   by hand "
                f"{results[app]['hand'][-1]:6.1f} s   redeploy {again:4.1f} s"
                f"{'   (by hand first)' if hand_first else ''}",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""Benchmark the stable URL: requests keep succeeding while the app is redeployed.

    .venv/bin/python bench/switch.py [--rate 50] [--redeploys 5]

Starts a real Butler (`manage.py runbutler`: Caddy, daphne, the django-q2 worker) with a
throwaway data dir, free ports for Caddy (`BUTLER_HTTP_PORT`, a block of `BUTLER_PROXY_PORTS`)
and deploys a small app. Then it prints:

(a) a client on loopback sends about `--rate` requests per second to the project's stable URL
    (a new connection for each, as a browser refresh would) while the project is redeployed
    `--redeploys` times (each with a changed page, so each is a new build and a new container)
    and rolled back once: requests, failures, the longest gap between two answers, and that
    every version was seen. Target: 0 failures.
(b) the latency the proxy adds: p50 and p99 of requests through Caddy (the public port)
    against the same requests straight to the container's loopback port, over one kept-alive
    connection each. Target: under 1 ms added at p50.
(c) Caddy's resident memory with 100 routes: 100 projects with their ports, names and
    running deployments are written to Butler's database and `manage.py proxy_sync` pushes
    the table, exactly as after a Caddy restart.

Everything it creates (containers, images, the data dir, the repos) is removed at the end.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.deploy import Butler, wait_for  # noqa: E402
from bench.deploy import http as api  # noqa: E402
from tests import samples  # noqa: E402

PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_block(size: int) -> str:
    """`a-b`: `size` consecutive ports nothing listens on, below the ephemeral range."""
    for _ in range(200):
        start = random.randrange(12000, 30000 - size)
        ok = True
        for port in range(start, start + size):
            with socket.socket() as sock:
                try:
                    sock.bind(("", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return f"{start}-{start + size - 1}"
    raise RuntimeError("no free block of ports")


def get(host: str, port: int, *, host_header: str | None = None, timeout: float = 5) -> str:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Host": host_header} if host_header else {})
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        return body
    finally:
        conn.close()


class Client(threading.Thread):
    """About `rate` GETs a second, each on a new connection (or, with `keep_alive`, over one
    connection kept open, opened again only when the server closes it); records answers and
    failures."""

    def __init__(self, url: str, rate: float, *, keep_alive: bool = False):
        super().__init__(daemon=True)
        self.keep_alive = keep_alive
        self.conn: http.client.HTTPConnection | None = None
        parts = urlsplit(url)
        self.host, self.port = "127.0.0.1", parts.port or 80
        self.interval = 1.0 / rate
        self.stop = threading.Event()
        self.requests = 0
        self.failures: list[str] = []
        self.answers: list[float] = []
        self.seen: set[str] = set()

    def run(self):
        while not self.stop.is_set():
            started = time.monotonic()
            self.requests += 1
            try:
                body = self._keep_alive_get() if self.keep_alive else get(self.host, self.port)
                self.answers.append(time.monotonic())
                self.seen.add(body)
            except Exception as exc:
                self.failures.append(f"{time.strftime('%X')} {exc!r}")
            self.stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def _keep_alive_get(self) -> str:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            self.conn.request("GET", "/")
            response = self.conn.getresponse()
            body = response.read().decode("utf-8", "replace")
        except Exception:
            self.conn.close()
            self.conn = None
            raise
        if response.will_close:
            self.conn.close()
            self.conn = None
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        return body

    def longest_gap(self) -> float:
        gaps = [b - a for a, b in zip(self.answers, self.answers[1:], strict=False)]
        return max(gaps, default=0.0)


def latency(host: str, port: int, n: int) -> list[float]:
    """Seconds per request over one kept-alive connection."""
    conn = http.client.HTTPConnection(host, port, timeout=5)
    times = []
    try:
        for _ in range(n):
            started = time.perf_counter()
            conn.request("GET", "/")
            conn.getresponse().read()
            times.append(time.perf_counter() - started)
    finally:
        conn.close()
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def caddy_rss(butler: Butler) -> int:
    root = psutil.Process(butler.process.pid)
    for proc in root.children(recursive=True):
        if proc.name() == "caddy":
            return proc.memory_info().rss
    raise RuntimeError("no caddy process under Butler")


ROUTES_SCRIPT = """
from django.contrib.auth import get_user_model
from deployments.models import Deployment
from projects.models import Project
owner = get_user_model().objects.get(username="bench")
base = int("{first}")
for n in range({count}):
    p = Project.objects.create(owner=owner, app_name=f"route-{{n}}", git_url="https://example.com/r.git",
                               status="running", public_port=base + n, subdomain=f"route-{{n}}")
    Deployment.objects.create(project=p, number=1, trace_id="bench", git_url=p.git_url,
                              status="running", host_port={upstream})
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--redeploys", type=int, default=5)
    parser.add_argument("--latency-requests", type=int, default=3000)
    parser.add_argument("--routes", type=int, default=100)
    parser.add_argument(
        "--keep-alive",
        action="store_true",
        help="the client keeps one connection open (as a script would) instead of a new one each",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="butler-bench-switch-"))
    (workdir / "repos").mkdir()
    butler = Butler(workdir)
    ports = free_block(args.routes + 10)
    butler.env.update(
        {
            "BUTLER_HTTP_PORT": str(free_port()),
            "BUTLER_HTTPS_PORT": str(free_port()),
            "BUTLER_PROXY_PORTS": ports,
            "BUTLER_RETIRE_SECONDS": os.environ.get("BUTLER_RETIRE_SECONDS", "10"),
        }
    )
    repo = workdir / "repos" / "site"
    try:
        butler.start()
        samples.env_page_repo(repo, marker="version 0")
        _took, first = butler.deploy(git_url=str(repo))
        url, project_id = first["deployed_url"], first["project_id"]
        print(f"Deployed at {url} (public port from {ports})")

        # (a) redeploys and a rollback under load
        client = Client(url, args.rate, keep_alive=args.keep_alive)
        client.start()
        time.sleep(1)
        versions = ["version 0"]
        rollback_to = first["id"]
        for n in range(1, args.redeploys + 1):
            marker = f"version {n}"
            samples.env_page_repo(repo, marker=marker)
            started = time.monotonic()
            _took, deployment = butler.deploy(project_id=project_id)
            wait_for(lambda m=marker: m in get("127.0.0.1", urlsplit(url).port), 30, 0.05)
            assert deployment["deployed_url"] == url, deployment["deployed_url"]
            versions.append(marker)
            print(f"  redeploy {n}: {marker} serving after {time.monotonic() - started:.1f} s")
            if n == 1:
                rollback_to = deployment["id"]
        started = time.monotonic()
        queued = api(
            "POST",
            f"{butler.base}/api/projects/{project_id}/rollback",
            {"deployment_id": rollback_to},
            butler.token,
        )
        butler.wait(queued["deployment_id"], marker="version 1")
        print(f"  rollback to version 1 serving after {time.monotonic() - started:.1f} s")
        time.sleep(2)
        client.stop.set()
        client.join()
        shown = sorted(v for v in versions if any(v in body for body in client.seen))
        print(
            f"(a) {client.requests} requests at ~{args.rate:g}/s "
            f"({'one kept-alive connection' if args.keep_alive else 'a new connection each'}) "
            f"through {args.redeploys} "
            f"redeploys and 1 rollback: {len(client.failures)} failures, longest gap "
            f"{client.longest_gap() * 1000:.0f} ms, versions seen {len(shown)}/{len(versions)}"
        )
        for failure in client.failures[:10]:
            print(f"    {failure}")

        # (b) proxy latency
        current = api(
            "GET", f"{butler.base}/api/deployments/{queued['deployment_id']}", token=butler.token
        )
        public = urlsplit(url).port
        direct = current["host_port"]
        n = args.latency_requests
        latency("127.0.0.1", public, 200)  # warm up
        latency("127.0.0.1", direct, 200)
        through, straight = [], []
        for _ in range(3):  # interleaved, so a noisy moment hurts both sides alike
            through += latency("127.0.0.1", public, n // 3)
            straight += latency("127.0.0.1", direct, n // 3)
        p50 = (pct(through, 0.5) - pct(straight, 0.5)) * 1000
        p99 = (pct(through, 0.99) - pct(straight, 0.99)) * 1000
        print(
            f"(b) latency over {len(through)} requests: through Caddy p50 "
            f"{pct(through, 0.5) * 1000:.3f} ms, p99 {pct(through, 0.99) * 1000:.3f} ms; "
            f"straight to the container p50 {pct(straight, 0.5) * 1000:.3f} ms, p99 "
            f"{pct(straight, 0.99) * 1000:.3f} ms; added p50 {p50:.3f} ms, p99 {p99:.3f} ms "
            f"(mean added {(statistics.mean(through) - statistics.mean(straight)) * 1000:.3f} ms)"
        )

        # (c) Caddy's memory with 100 routes
        before = caddy_rss(butler)
        first_port = int(ports.split("-")[0]) + 5
        script = ROUTES_SCRIPT.format(first=first_port, count=args.routes, upstream=direct)
        subprocess.run(
            [PYTHON, "manage.py", "shell", "--no-imports", "-c", script],
            cwd=ROOT,
            env=butler.env,
            check=True,
        )
        subprocess.run(
            [PYTHON, "manage.py", "proxy_sync"],
            cwd=ROOT,
            env=butler.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for n in range(args.routes):  # every route answers, by port and by name
            assert "version 1" in get("127.0.0.1", first_port + n)
        http_port = int(butler.env["BUTLER_HTTP_PORT"])
        assert "version 1" in get("127.0.0.1", http_port, host_header="route-7.localhost")
        time.sleep(1)
        after = caddy_rss(butler)
        print(
            f"(c) Caddy RSS: {before / 2**20:.1f} MB with 1 route, {after / 2**20:.1f} MB with "
            f"{args.routes + 1} routes ({args.routes + 1} listeners + names on the shared port)"
        )
        return 0 if not client.failures else 1
    finally:
        butler.stop()
        butler.remove_docker_objects()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

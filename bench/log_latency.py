"""Benchmark the live streams: how late lines arrive, what idle sockets cost, a flood.

    .venv/bin/python bench/log_latency.py [--only build,runtime,redis,idle,flood]

Starts a real Butler (`manage.py runbutler`: daphne + the worker, SQLite) on a free port and
a throwaway data dir, deploys an app that prints timestamped lines, and prints:

(a) deployment log latency on the embedded default (no Redis): the build prints
    `build tick <n> <unix time>` every 20 ms (200 of them, twice); a WebSocket client on ws/deployments/<id>/
    notes when each line arrives. The line crosses from the build (worker) through the
    database and the web process's outbox reader. p50 / p95 / max. Target: p95 <= 300 ms.
(b) runtime log latency: the running app prints `tick <unix time>` every 50 ms; a client on
    ws/projects/<id>/logs/ notes arrival (the web process reads it from the engine).
(c) (a) and (b) again with REDIS_URL (a redis-server started for it). Target: p95 <= 100 ms.
(d) 200 sockets open and idle on the embedded default (ws/events/): the web process's CPU
    while they idle, against no socket at all. Target: < 5 % of a core.
(e) a flood: the app prints 10,000 lines a second for 30 s while one client reads its
    runtime log and another does not read at all; /health is asked every 100 ms throughout
    (target: every answer within 200 ms) and the memory of web + worker is sampled. Then a
    build that prints 300,000 lines at once: /health again, and the lines stored (capped
    at BUTLER_LOG_MAX_LINES = 10,000, with the markers).

Everything it creates (containers, images, the data dir, the repos, Redis) is removed.
"""

from __future__ import annotations

import argparse
import json
import logging
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
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from deploy import Butler, MemorySampler, http, tree_memory, wait_for  # noqa: E402

from tests import samples  # noqa: E402

# A client that does not read cannot finish its close handshake: that is the point.
logging.getLogger("websockets").setLevel(logging.CRITICAL)

TICK = 0.05  # the running app's ticks
BUILD_TICK = 0.02  # the build's: denser than the worker's batching interval (0.05 s)


def ws_url(butler: Butler, path: str) -> str:
    sep = "&" if "?" in path else "?"
    return butler.base.replace("http://", "ws://") + f"{path}{sep}token={butler.token}"


class Reader(threading.Thread):
    """A WebSocket client that notes when each message arrives (`slow`: never reads)."""

    def __init__(self, url: str, origin: str, *, slow: bool = False):
        super().__init__(daemon=True)
        self.url, self.origin, self.slow = url, origin, slow
        self.messages: list[tuple[float, dict]] = []
        self.close_code: int | None = None
        self.connected = threading.Event()
        self.done = threading.Event()
        self.ws = None

    def start(self):
        super().start()
        if not self.connected.wait(timeout=15):
            raise RuntimeError(f"could not connect to {self.url.split('?')[0]}")
        return self

    def run(self):
        try:
            with connect(
                self.url, origin=self.origin, proxy=None, max_size=2**24, open_timeout=15
            ) as ws:
                self.ws = ws
                self.connected.set()
                if self.slow:
                    self.done.wait()
                    return
                while not self.done.is_set():
                    try:
                        message = json.loads(ws.recv(timeout=0.5))
                    except TimeoutError:
                        continue
                    self.messages.append((time.time(), message))
        except ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd else None
        finally:
            self.connected.set()

    def stop(self):
        self.done.set()
        if self.ws is not None:
            self.ws.close()
        self.join(timeout=10)

    def lines(self) -> list[tuple[float, dict]]:
        return [(at, ln) for at, m in self.messages if m["type"] == "log" for ln in m["lines"]]

    def skipped(self) -> int:
        return sum(m["count"] for _, m in self.messages if m["type"] == "skipped")


def delays(reader: Reader, prefix: str) -> list[float]:
    found = []
    for at, line in reader.lines():
        text = line["text"]
        if text.startswith(prefix):
            found.append(at - float(text.split()[-1]))
    return found


def stored_delays(reader: Reader, prefix: str) -> list[float]:
    """Printed -> stored (the line's `time` is when the worker stored it)."""
    from datetime import datetime

    found = []
    for _, line in reader.lines():
        if line["text"].startswith(prefix):
            stored = datetime.fromisoformat(line["time"]).timestamp()
            found.append(stored - float(line["text"].split()[-1]))
    return found


def summary(values: list[float]) -> str:
    if not values:
        return "no samples"
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return (
        f"p50 {statistics.median(ms):5.0f} ms   p95 {p95:5.0f} ms   max {ms[-1]:5.0f} ms   "
        f"({len(ms)} lines)"
    )


def build_latency(butler: Butler, workdir: Path, rounds: int = 2) -> tuple[list[float], int]:
    """(a) ticks printed by the build, as they reach a ws/deployments/<id>/ client."""
    found: list[float] = []
    stored: list[float] = []
    path = workdir / "repos" / f"build-{secrets.token_hex(3)}"
    project_id = None
    for _ in range(rounds):
        samples.live_repo(
            path, build_ticks=200, tick_seconds=BUILD_TICK, nonce=secrets.token_hex(6)
        )
        form = {"project_id": project_id} if project_id else {"git_url": str(path)}
        queued = http("POST", f"{butler.base}/deploy", form, butler.token)
        project_id = queued["project_id"]
        reader = Reader(
            ws_url(butler, f"/ws/deployments/{queued['deployment_id']}/"), butler.base
        ).start()
        reader.join(timeout=600)
        found += delays(reader, "build tick")
        stored += stored_delays(reader, "build tick")
        butler.wait(queued["deployment_id"])
    print(f"    of which printed -> stored in the worker: {summary(stored)}", flush=True)
    return found, project_id


def runtime_latency(butler: Butler, project_id: int, seconds: float = 10) -> list[float]:
    """(b) ticks the running app prints, as they reach a ws/projects/<id>/logs/ client."""
    reader = Reader(ws_url(butler, f"/ws/projects/{project_id}/logs/?tail=0"), butler.base)
    reader.start()
    time.sleep(seconds)
    reader.stop()
    return delays(reader, "tick ")


def deploy_ticking(butler: Butler, project_id: int) -> None:
    """Redeploy the project with TICK_SECONDS set: its app prints a tick every 50 ms (a new
    release of the same image, no build)."""
    http(
        "POST",
        f"{butler.base}/api/env-vars",
        {"project_id": project_id, "variables": {"TICK_SECONDS": str(TICK)}},
        butler.token,
    )
    queued = http("POST", f"{butler.base}/deploy", {"project_id": project_id}, butler.token)
    butler.wait(queued["deployment_id"])


def web_process(butler: Butler) -> psutil.Process:
    for child in psutil.Process(butler.process.pid).children(recursive=True):
        if "butler web" in " ".join(child.cmdline()):
            return child
    raise RuntimeError("no web process found")


def cpu_share(process: psutil.Process, seconds: float) -> float:
    before = process.cpu_times()
    time.sleep(seconds)
    after = process.cpu_times()
    return (after.user + after.system - before.user - before.system) / seconds


def idle_sockets(butler: Butler, count: int = 200, seconds: float = 20) -> dict:
    """(d) the web process's CPU with `count` idle ws/events/ sockets, and with none."""
    web = web_process(butler)
    time.sleep(2)
    baseline = cpu_share(web, seconds)
    readers = [Reader(ws_url(butler, "/ws/events/"), butler.base) for _ in range(count)]
    for reader in readers:
        reader.start()
    time.sleep(2)
    loaded = cpu_share(web, seconds)
    alive = sum(1 for r in readers if r.close_code is None and r.is_alive())
    for reader in readers:
        reader.done.set()
    for reader in readers:
        reader.stop()
    return {"sockets": alive, "cpu_idle": baseline, "cpu_sockets": loaded}


class HealthProbe(threading.Thread):
    def __init__(self, base: str):
        super().__init__(daemon=True)
        self.base = base
        self.times: list[float] = []
        self.failures = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(f"{self.base}/health", timeout=5) as answer:
                    answer.read()
                self.times.append(time.monotonic() - started)
            except Exception:
                self.failures += 1
            self.stop.wait(max(0.0, 0.1 - (time.monotonic() - started)))


def flood(butler: Butler, project_id: int, workdir: Path) -> dict:
    """(e) 10,000 lines/s for 30 s at runtime, then a build printing 300,000 lines."""
    report: dict = {}
    deployed = http("GET", f"{butler.base}/api/projects/{project_id}", token=butler.token)
    sampler = MemorySampler(butler.process.pid)
    sampler.start()
    probe = HealthProbe(butler.base)
    probe.start()
    reader = Reader(ws_url(butler, f"/ws/projects/{project_id}/logs/?tail=0"), butler.base)
    slow = Reader(ws_url(butler, f"/ws/projects/{project_id}/logs/?tail=0"), butler.base, slow=True)
    reader.start()
    slow.start()
    before = tree_memory(butler.process.pid)[0]
    with urllib.request.urlopen(f"{deployed['deployed_url']}/flood?rate=10000&seconds=30") as r:
        r.read()
    web_cpu = cpu_share(web_process(butler), 30)
    time.sleep(2)
    reader.stop()
    slow.stop()
    probe.stop.set()
    probe.join()
    sampler.stop.set()
    sampler.join()
    flood_lines = [ln for _, ln in reader.lines() if ln["text"].startswith("flood ")]
    report["runtime"] = {
        "health": probe.times,
        "health_failures": probe.failures,
        "received": len(flood_lines),
        "skipped": reader.skipped(),
        "messages": len(reader.messages),
        "pss_before": before,
        "pss_peak": sampler.peak_pss,
        "web_cpu": web_cpu,
    }
    # A build that prints 300,000 lines as fast as it can.
    path = workdir / "repos" / "build-flood"
    samples.live_repo(path, build_ticks=1, tick_seconds=0, build_flood=300_000, nonce="flood")
    sampler = MemorySampler(butler.process.pid)
    sampler.start()
    probe = HealthProbe(butler.base)
    probe.start()
    queued = http("POST", f"{butler.base}/deploy", {"git_url": str(path)}, butler.token)
    reader = Reader(ws_url(butler, f"/ws/deployments/{queued['deployment_id']}/"), butler.base)
    reader.start()
    reader.join(timeout=600)
    probe.stop.set()
    probe.join()
    sampler.stop.set()
    sampler.join()
    stored, after = [], 0
    while True:
        page = http(
            "GET",
            f"{butler.base}/api/deployments/{queued['deployment_id']}/logs?after={after}&limit=2000",
            token=butler.token,
        )
        stored += page["lines"]
        after = page["next_after"]
        if not page["has_more"]:
            break
    report["build"] = {
        "health": probe.times,
        "health_failures": probe.failures,
        "stored": len(stored),
        "stored_flood": sum(1 for ln in stored if ln["text"].startswith("build flood")),
        "markers": [ln["text"] for ln in stored if "BUTLER_LOG_MAX_LINES" in ln["text"]],
        "received": len(reader.lines()),
        "skipped": reader.skipped(),
        "close_code": reader.close_code,
        "pss_peak": sampler.peak_pss,
    }
    return report


def start_redis() -> tuple[subprocess.Popen, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: apt-get install -y redis-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def answers():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_for(answers, timeout=10)
    return process, f"redis://127.0.0.1:{port}/0"


def cleanup(butler: Butler) -> None:
    butler.stop()
    butler.remove_docker_objects()


def run_one(workdir: Path, sections: set[str], redis_url: str | None) -> dict:
    butler = Butler(workdir / ("redis" if redis_url else "embedded"))
    butler.env["BUTLER_LOCAL_GIT_ROOTS"] = str(workdir / "repos")
    if redis_url:
        butler.env["REDIS_URL"] = redis_url
    results: dict = {}
    try:
        butler.start()
        if sections & {"build", "runtime", "redis", "flood"}:
            results["build"], project_id = build_latency(butler, workdir)
            print(f"  build log latency: {summary(results['build'])}", flush=True)
            deploy_ticking(butler, project_id)
            results["runtime"] = runtime_latency(butler, project_id)
            print(f"  runtime log latency: {summary(results['runtime'])}", flush=True)
        if "idle" in sections and not redis_url:
            results["idle"] = idle_sockets(butler)
            print(f"  idle: {results['idle']}", flush=True)
        if "flood" in sections and not redis_url:
            results["flood"] = flood(butler, project_id, workdir)
    finally:
        cleanup(butler)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="build,runtime,redis,idle,flood")
    args = parser.parse_args()
    sections = set(args.only.split(","))
    workdir = Path(tempfile.mkdtemp(prefix="butler-bench-logs-"))
    (workdir / "repos").mkdir()
    redis = None
    try:
        print("embedded default (SQLite, no Redis):", flush=True)
        embedded = run_one(workdir, sections, None)
        with_redis = {}
        if "redis" in sections:
            redis, url = start_redis()
            print("with REDIS_URL:", flush=True)
            with_redis = run_one(workdir, sections - {"idle", "flood"}, url)
    finally:
        if redis is not None:
            redis.terminate()
            redis.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    if "build" in embedded:
        print("(a) deployment log, build line printed -> on the socket, embedded default")
        print(f"    {summary(embedded['build'])}   (target p95 <= 300 ms)")
        print("(b) runtime log, app line printed -> on the socket, embedded default")
        print(f"    {summary(embedded['runtime'])}")
    if with_redis:
        print("(c) with REDIS_URL")
        print(f"    deployment log {summary(with_redis['build'])}   (target p95 <= 100 ms)")
        print(f"    runtime log    {summary(with_redis['runtime'])}")
    if "idle" in embedded:
        idle = embedded["idle"]
        print(
            f"(d) {idle['sockets']} idle sockets: web process CPU {idle['cpu_sockets'] * 100:.1f} % "
            f"of a core (no socket: {idle['cpu_idle'] * 100:.1f} %)   (target < 5 %)"
        )
    if "flood" in embedded:
        runtime, build = embedded["flood"]["runtime"], embedded["flood"]["build"]
        print("(e) flood: the app prints 10,000 lines/s for 30 s; one client reads, one does not")
        print(
            f"    /health: {summary(runtime['health'])}, {runtime['health_failures']} failed"
            "   (target: all within 200 ms)"
        )
        print(
            f"    the reading client: {runtime['received']:,} lines in {runtime['messages']} "
            f"messages, told {runtime['skipped']:,} skipped"
        )
        print(
            f"    web + worker PSS {runtime['pss_before'] / 2**20:.0f} MB before, peak "
            f"{runtime['pss_peak'] / 2**20:.0f} MB; web process CPU "
            f"{runtime['web_cpu'] * 100:.0f} % of a core during the flood"
        )
        print("    a build printing 300,000 lines at once:")
        print(
            f"    /health: {summary(build['health'])}, {build['health_failures']} failed; "
            f"peak PSS {build['pss_peak'] / 2**20:.0f} MB"
        )
        print(
            f"    stored {build['stored']:,} lines ({build['stored_flood']:,} of the flood); "
            f"the socket got {build['received']:,} lines and {build['skipped']:,} skipped, "
            f"closed {build['close_code']}"
        )
        for marker in build["markers"]:
            print(f"      marker: {marker}")


if __name__ == "__main__":
    main()

"""Waiting for a started container to answer HTTP, and finding the port it really uses."""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass

from deployments.pipeline.ports import ports_from_logs
from deployments.runtime.base import ContainerInfo, Runtime

COMMON_PORTS = (3000, 8000, 8080, 5000, 80, 4000, 8888, 5173, 4200)
POLL_SECONDS = 0.1
LOG_CHECK_SECONDS = 2.0
PROBE_AFTER_SECONDS = 8.0


class AppExited(Exception):
    def __init__(self, exit_code: int | None, logs: str):
        self.exit_code, self.logs = exit_code, logs
        super().__init__(f"The app exited during start-up (exit code {exit_code}).")


class NeverAnswered(Exception):
    def __init__(self, port: int, timeout: int, logs: str):
        self.port, self.timeout, self.logs = port, timeout, logs
        super().__init__(
            f"The app did not answer HTTP on port {port} within {timeout} s. Make it listen on "
            f"0.0.0.0 and the port in $PORT ({port}), or EXPOSE the port it uses in a Dockerfile; "
            "a slow start can get more time with BUTLER_READY_TIMEOUT."
        )


@dataclass
class Moved:
    """The app listens on another port than the one published: recreate it with this one."""

    port: int
    reason: str


def answers_http(host: str, port: int | None, *, timeout: float = 2.0) -> bool:
    """True when something on host:port gives any HTTP response (even an error status)."""
    if not port:
        return False
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"User-Agent": "butler-readiness"})
        conn.getresponse().read(1)
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _stopped(info: ContainerInfo) -> bool:
    return info.status in {"exited", "dead", "restarting"} or (
        info.status != "running" and info.exit_code is not None
    )


def wait_until_ready(
    runtime: Runtime,
    container: ContainerInfo,
    *,
    host: str,
    timeout: int,
    may_move: bool = True,
    on_tick=None,
    cancel=None,
) -> ContainerInfo | Moved:
    """Poll until the published port answers HTTP.

    Returns the container when it answers, or `Moved(port)` when its logs (or a probe of the
    common ports on its network address) show it listens on another port. Raises `AppExited`
    with its last 50 log lines if it stops, `NeverAnswered` when the time is up, `Cancelled`
    when the `cancel` token fires.
    """
    started = time.monotonic()
    deadline = started + timeout
    next_log_check = started + LOG_CHECK_SECONDS
    probed = False
    while time.monotonic() < deadline:
        if cancel is not None:
            cancel.raise_if_cancelled()
        info = runtime.get_container(container.id)
        if _stopped(info):
            raise AppExited(info.exit_code, runtime.container_logs(container.id, tail=50))
        if answers_http(host, info.host_port):
            return info
        now = time.monotonic()
        if may_move and now >= next_log_check:
            next_log_check = now + LOG_CHECK_SECONDS
            logged = [
                p
                for p in ports_from_logs(runtime.container_logs(container.id, tail=200))
                if p != container.container_port
            ]
            if logged and not _listens(info, container.container_port):
                return Moved(logged[-1], "its log says it listens there")
            if not probed and now - started >= PROBE_AFTER_SECONDS and info.ip:
                probed = True
                for port in COMMON_PORTS:
                    if port != container.container_port and answers_http(
                        info.ip, port, timeout=0.5
                    ):
                        return Moved(port, "it answers there")
        if on_tick:
            on_tick()
        time.sleep(POLL_SECONDS)
    raise NeverAnswered(
        container.container_port or 0, timeout, runtime.container_logs(container.id, tail=50)
    )


def _listens(info: ContainerInfo, port: int | None) -> bool:
    """Whether the container answers on `port` at its network address (when reachable)."""
    return bool(info.ip and port and answers_http(info.ip, port, timeout=0.5))

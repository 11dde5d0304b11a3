"""Waiting for a started container to answer HTTP, and finding the port it really uses."""

from __future__ import annotations

import http.client
import time
from collections.abc import Collection
from dataclasses import dataclass

from deployments.pipeline.explain import (
    Explanation,
    explain_app_exit,
    explain_loopback,
    loopback_from_logs,
    loopback_only,
)
from deployments.pipeline.ports import NON_APP_PORTS, ports_from_logs
from deployments.runtime.base import ContainerInfo, Runtime, RuntimeFailure

COMMON_PORTS = (3000, 8000, 8080, 5000, 80, 4000, 8888, 5173, 4200)
POLL_SECONDS = 0.1
LOG_CHECK_SECONDS = 2.0
PROBE_AFTER_SECONDS = 8.0
# How long a log line saying "listening on 127.0.0.1" must go unanswered before it counts:
# many apps print localhost and listen on every address.
LOOPBACK_GRACE_SECONDS = 3.0


class AppExited(Exception):
    """The app stopped during start-up; `explanation` says why when its log shows it."""

    def __init__(self, exit_code: int | None, logs: str, *, explanation: Explanation | None = None):
        self.exit_code, self.logs, self.explanation = exit_code, logs, explanation
        message = f"The app exited during start-up (exit code {exit_code})."
        if explanation is not None:
            message = f"{message[:-1]}: {explanation}"
        super().__init__(message)


class NeverAnswered(Exception):
    def __init__(self, port: int, timeout: int, logs: str):
        self.port, self.timeout, self.logs = port, timeout, logs
        super().__init__(
            f"The app did not answer HTTP on port {port} within {timeout} s. Make it listen on "
            f"0.0.0.0 and the port in $PORT ({port}), or EXPOSE the port it uses in a Dockerfile; "
            "a slow start can get more time with BUTLER_READY_TIMEOUT."
        )


class ListensOnLoopback(NeverAnswered):
    """The app listens on a loopback address only, so nothing outside the container can
    reach it; found from its listening sockets or its log, without waiting out the timeout."""

    def __init__(self, port: int, addresses: list[str], logs: str, *, from_logs: bool = False):
        super().__init__(port, 0, logs)
        self.addresses = addresses
        self.explanation = explain_loopback(port, addresses, from_logs=from_logs)
        self.args = (str(self.explanation),)


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
    env_names: Collection[str] = (),
    code_reads: Collection[str] = (),
) -> ContainerInfo | Moved:
    """Poll until the published port answers HTTP.

    Returns the container when it answers, or `Moved(port)` when its logs, its listening
    sockets or a probe of the common ports on its network address show it listens on another
    port. Raises `AppExited` with its last 50 log lines if it stops (explained when the log
    shows a missing variable or a database on localhost: `env_names` are the variables the
    project sets, `code_reads` those the code reads), `ListensOnLoopback` as soon as it is
    clear the app listens on 127.0.0.1/::1 only, `NeverAnswered` when the time is up,
    `Cancelled` when the `cancel` token fires.
    """
    started = time.monotonic()
    deadline = started + timeout
    next_log_check = started + LOG_CHECK_SECONDS
    probed = False
    loopback_seen: float | None = None
    elsewhere_seen: float | None = None  # a socket-based move must hold for two checks
    port = container.container_port
    while time.monotonic() < deadline:
        if cancel is not None:
            cancel.raise_if_cancelled()
        info = runtime.get_container(container.id)
        if _stopped(info):
            logs = runtime.container_logs(container.id, tail=50)
            why = explain_app_exit(logs, env_names=env_names, code_reads=code_reads)
            raise AppExited(info.exit_code, logs, explanation=why)
        if answers_http(host, info.host_port):
            return info
        now = time.monotonic()
        if now >= next_log_check:
            next_log_check = now + LOG_CHECK_SECONDS
            logs = runtime.container_logs(container.id, tail=200)
            sockets = _sockets(runtime, container.id)
            if sockets is not None:
                loopback = loopback_only(sockets, port)
                if loopback and not answers_http(host, info.host_port):
                    first = loopback[0][1]
                    addresses = [a for a, p in loopback if p == first]
                    tail = runtime.container_logs(container.id, tail=50)
                    raise ListensOnLoopback(first, addresses, tail)
                elsewhere = [
                    p
                    for a, p in sockets
                    if a in ("0.0.0.0", "::") and p != port and p not in NON_APP_PORTS
                ]
                if may_move and elsewhere and not any(p == port for _, p in sockets):
                    if elsewhere_seen is not None and now - elsewhere_seen >= LOG_CHECK_SECONDS:
                        return Moved(elsewhere[0], "it listens there")
                    elsewhere_seen = elsewhere_seen or now
                else:
                    elsewhere_seen = None
            else:
                said = loopback_from_logs(logs)
                if said:
                    loopback_seen = loopback_seen or now
                    if (
                        now - loopback_seen >= LOOPBACK_GRACE_SECONDS
                        and not _listens(info, said[0])
                        and not answers_http(host, info.host_port)
                    ):
                        tail = runtime.container_logs(container.id, tail=50)
                        raise ListensOnLoopback(said[0], ["127.0.0.1"], tail, from_logs=True)
            if may_move:
                logged = [p for p in ports_from_logs(logs) if p != port]
                if logged and not _listens(info, port):
                    return Moved(logged[-1], "its log says it listens there")
                if not probed and now - started >= PROBE_AFTER_SECONDS and info.ip:
                    probed = True
                    for candidate in COMMON_PORTS:
                        if candidate != port and answers_http(info.ip, candidate, timeout=0.5):
                            return Moved(candidate, "it answers there")
        if on_tick:
            on_tick()
        time.sleep(POLL_SECONDS)
    raise NeverAnswered(port or 0, timeout, runtime.container_logs(container.id, tail=50))


def _sockets(runtime: Runtime, container_id: str) -> list[tuple[str, int]] | None:
    """The container's listening sockets, or None when this runtime cannot tell."""
    verb = getattr(runtime, "listening_sockets", None)
    if verb is None:
        return None
    try:
        return verb(container_id)
    except RuntimeFailure:
        return None


def _listens(info: ContainerInfo, port: int | None) -> bool:
    """Whether the container answers on `port` at its network address (when reachable)."""
    return bool(info.ip and port and answers_http(info.ip, port, timeout=0.5))

"""Butler's supervisor: watch the web server, the worker and the front proxy (Caddy).

`manage.py runbutler` loads Django and Butler once, starts Caddy, forks the web server
(daphne) and the worker (the django-q2 cluster) from that one process, so both share its
memory pages, and then replaces itself with this module (`os.execv`), which keeps no Django
in memory: it only knows the children's pids, and how to start a service again.

Every child runs in a process group of its own. When the web server or the worker exits, or
this supervisor is told to stop (SIGINT, SIGTERM), every child is asked to stop (SIGTERM,
which lets the cluster stop its workers in order); whatever of a child's group is left after
a grace period is killed (SIGKILL), so nothing stays behind.

A service (Caddy) that dies is started again instead, after a pause that doubles while it
keeps dying young (up to `MAX_BACKOFF`). Caddy comes back with no configuration, so once it
is started the supervisor runs its after-restart command (`manage.py proxy_sync`), which
waits for Caddy's admin API and pushes the whole routing table from the database: every route
is back without the web server or the worker having to notice anything.

Deliberately standard library only, and run with `python -S`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time

GRACE_SECONDS = 20
MIN_BACKOFF = 0.5
MAX_BACKOFF = 30.0
HEALTHY_AFTER = 30.0  # seconds of life after which a service's next death restarts it at once


class Child:
    def __init__(self, name: str, pid: int) -> None:
        self.name, self.pid = name, pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def signal_group(self, signum: int) -> None:
        for target in (lambda: os.killpg(self.pid, signum), lambda: os.kill(self.pid, signum)):
            try:
                target()
                return
            except (ProcessLookupError, PermissionError):
                continue


class Service(Child):
    """A child that is started again when it dies: `argv` starts it, `after_restart` (if any)
    runs once it is started again, `log` (a file path) takes its output."""

    def __init__(
        self,
        name: str,
        pid: int,
        *,
        argv: list[str],
        after_restart: list[str] | None = None,
        log: str | None = None,
    ) -> None:
        super().__init__(name, pid)
        self.argv, self.after_restart, self.log = argv, after_restart, log
        self.started = time.monotonic()
        self.restarts = 0
        self.backoff = MIN_BACKOFF
        self.due: float | None = None  # when to start it again
        self.helpers: list[subprocess.Popen] = []

    def died(self, now: float) -> float:
        """Plan the restart; returns the pause before it."""
        if now - self.started >= HEALTHY_AFTER:
            self.backoff = MIN_BACKOFF
        pause = self.backoff
        self.backoff = min(MAX_BACKOFF, self.backoff * 2)
        self.due = now + pause
        return pause

    def restart(self) -> None:
        output = open(self.log, "ab") if self.log else None  # noqa: SIM115 - kept by the child
        try:
            process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                start_new_session=True,  # its own process group, like every child
                preexec_fn=_die_with_parent,  # and it goes if this supervisor is killed
            )
        finally:
            if output is not None:
                output.close()
        self.helpers.append(process)  # keeps Popen from reaping it behind our back
        self.pid, self.returncode, self.due = process.pid, None, None
        self.started = time.monotonic()
        self.restarts += 1
        if self.after_restart:
            self.helpers.append(
                subprocess.Popen(
                    self.after_restart, stdin=subprocess.DEVNULL, start_new_session=True
                )
            )

    def reap_helpers(self) -> None:
        self.helpers = [h for h in self.helpers if h.pid == self.pid or h.poll() is None]


def supervise(children: list[Child]) -> int:
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        now = time.monotonic()
        for child in children:
            if isinstance(child, Service):
                child.reap_helpers()
                if child.due is not None:
                    if now >= child.due:
                        child.restart()
                        print(
                            f"{child.name} started again (pid {child.pid}).",
                            file=sys.stderr,
                            flush=True,
                        )
                    continue
                if child.poll() is not None:
                    pause = child.died(now)
                    print(
                        f"{child.name} exited with code {child.returncode}; starting it again "
                        f"in {pause:.1f} s.",
                        file=sys.stderr,
                        flush=True,
                    )
                continue
            if child.poll() is not None:
                print(
                    f"{child.name} exited with code {child.returncode}; stopping Butler.",
                    file=sys.stderr,
                    flush=True,
                )
                exit_code = child.returncode or 1
                stopping = True
        time.sleep(0.2)
    shutdown(children)
    return exit_code


def shutdown(children: list[Child], grace: float = GRACE_SECONDS) -> None:
    """Ask every child to stop; kill its whole group once it exited or `grace` is over."""
    for child in children:
        if isinstance(child, Service) and child.due is not None:
            continue  # dead, waiting to be started again
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(child.poll() is None for child in children):
        time.sleep(0.1)
    for child in children:
        child.signal_group(signal.SIGKILL)  # the rest of its group, if any
        child.poll()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--child", action="append", default=[], metavar="NAME=PID", help="a child to watch"
    )
    parser.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="NAME=PID",
        help="a child to start again when it dies (needs --restart NAME=<json argv>)",
    )
    parser.add_argument("--restart", action="append", default=[], metavar="NAME=JSON")
    parser.add_argument("--after-restart", action="append", default=[], metavar="NAME=JSON")
    parser.add_argument("--log", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--url", default="", help="printed once everything runs")
    args = parser.parse_args(argv)
    children: list[Child] = []
    for spec in args.child:
        name, _, pid = spec.partition("=")
        children.append(Child(name, int(pid)))
    restart = _named(args.restart, json.loads)
    after = _named(args.after_restart, json.loads)
    logs = _named(args.log, str)
    for spec in args.service:
        name, _, pid = spec.partition("=")
        if name not in restart:
            parser.error(f"--service {name} needs --restart {name}=<json argv>")
        children.append(
            Service(
                name,
                int(pid),
                argv=restart[name],
                after_restart=after.get(name),
                log=logs.get(name),
            )
        )
    names = ", ".join(child.name for child in children)
    print(f"Butler is running on {args.url} ({names})", flush=True)
    return supervise(children)


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL it when this supervisor dies (Linux only)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _named(specs: list[str], parse) -> dict:
    out = {}
    for spec in specs:
        name, _, value = spec.partition("=")
        out[name] = parse(value)
    return out


if __name__ == "__main__":
    sys.exit(main())

"""Butler's supervisor: watch the web server and the worker, stop them all together.

`manage.py runbutler` loads Django and Butler once, forks the web server (daphne) and the
worker (the django-q2 cluster) from that one process, so both share its memory pages, and
then replaces itself with this module (`os.execv`), which keeps no Django in memory: it only
knows the children's pids.

Every child runs in a process group of its own. When one child exits, or this supervisor is
told to stop (SIGINT, SIGTERM), every child is asked to stop (SIGTERM, which lets the cluster
stop its workers in order); whatever of a child's group is left after a grace period is
killed (SIGKILL), so nothing stays behind.

Deliberately standard library only, and run with `python -S`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time

GRACE_SECONDS = 20


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


def supervise(children: list[Child]) -> int:
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for child in children:
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
    parser.add_argument("--url", default="", help="printed once everything runs")
    args = parser.parse_args(argv)
    children = []
    for spec in args.child:
        name, _, pid = spec.partition("=")
        children.append(Child(name, int(pid)))
    names = ", ".join(child.name for child in children)
    print(f"Butler is running on {args.url} ({names})", flush=True)
    return supervise(children)


if __name__ == "__main__":
    sys.exit(main())

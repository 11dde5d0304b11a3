"""Run Butler's web server and worker side by side, and stop both together.

Deliberately standard library only: this supervisor stays alive for as long as Butler runs,
so it must not carry Django in memory. `manage.py runbutler` does the Django-side setup
and then replaces itself with this module.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def commands(host: str, port: int, worker: bool) -> dict[str, list[str]]:
    found = {
        "web": [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            host,
            "-p",
            str(port),
            "butler_site.asgi:application",
        ]
    }
    if worker:
        found["worker"] = [sys.executable, str(BASE_DIR / "manage.py"), "qcluster"]
    return found


def supervise(processes: dict[str, subprocess.Popen]) -> int:
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, proc in processes.items():
            if proc.poll() is not None:
                print(
                    f"{name} exited with code {proc.returncode}; stopping Butler.", file=sys.stderr
                )
                exit_code = proc.returncode or 1
                stopping = True
        time.sleep(0.5)
    for proc in processes.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in processes.values():
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return exit_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-worker", action="store_true")
    args = parser.parse_args(argv)
    processes = {
        name: subprocess.Popen(cmd, cwd=BASE_DIR)
        for name, cmd in commands(args.host, args.port, not args.no_worker).items()
    }
    print(
        f"Butler is running on http://{args.host}:{args.port}/ ({', '.join(processes)})", flush=True
    )
    return supervise(processes)


if __name__ == "__main__":
    sys.exit(main())

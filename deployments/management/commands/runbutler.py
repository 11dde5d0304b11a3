"""Start Butler's web server (daphne) and worker (django-q2 cluster) together."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server and the deployment worker in one terminal (Ctrl-C stops both)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.BUTLER_PORT)
        parser.add_argument("--no-worker", action="store_true", help="Start the web server only.")

    def handle(self, *args, host: str, port: int, no_worker: bool, **options):
        if not no_worker:
            # The worker is (re)starting: deployments it was running lost their task.
            call_command("setup_schedules")
            call_command("reconcile", startup=True)
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        commands = {
            "web": [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                host,
                "-p",
                str(port),
                "butler_site.asgi:application",
            ],
        }
        if not no_worker:
            commands["worker"] = [sys.executable, manage, "qcluster"]
        processes = {
            name: subprocess.Popen(cmd, cwd=settings.BASE_DIR) for name, cmd in commands.items()
        }
        self.stdout.write(f"Butler is starting on http://{host}:{port}/ ({', '.join(processes)})")

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
                    self.stderr.write(
                        f"{name} exited with code {proc.returncode}; stopping Butler."
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
        sys.exit(exit_code)

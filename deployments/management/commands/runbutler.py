"""Start Butler's web server (daphne) and worker (django-q2 cluster) together."""

from __future__ import annotations

import os
import sys

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
            call_command("reconcile")
        argv = [sys.executable, "-m", "butler_site.launcher", "--host", host, "--port", str(port)]
        if no_worker:
            argv.append("--no-worker")
        sys.stdout.flush()
        sys.stderr.flush()
        # Replace this Django process with the small supervisor (it keeps no Django in memory).
        os.execv(sys.executable, argv)  # noqa: S606 - argv is ours, no shell

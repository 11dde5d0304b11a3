"""Start Butler's front proxy (Caddy), web server (daphne) and worker (django-q2 cluster).

Caddy is started first and given the whole routing table (`deployments.proxy.runner`), so
every app answers at its address before anything else runs. Django and Butler are loaded
once, here; the web server and the worker are forked from this process, so the pages they
both use (Django, DRF, the Docker SDK, Butler itself) are in memory once. Then this process
becomes the small standard-library supervisor (`butler_site.launcher`), which starts Caddy
again if it dies.
"""

from __future__ import annotations

import gc
import os
import sys
import traceback
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connections
from django.urls import get_resolver

from core.processes import die_with_parent
from deployments.proxy import runner

LAUNCHER = Path(__file__).resolve().parents[3] / "butler_site" / "launcher.py"


class Command(BaseCommand):
    help = "Run the web server and the deployment worker in one terminal (Ctrl-C stops both)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.BUTLER_PORT)
        parser.add_argument("--no-worker", action="store_true", help="Start the web server only.")
        parser.add_argument(
            "--no-proxy", action="store_true", help="Do not start Caddy (apps get no address)."
        )

    def handle(self, *args, host: str, port: int, no_worker: bool, no_proxy: bool, **options):
        caddy = None if no_proxy else runner.caddy_start()
        if caddy is not None:
            runner.routes_push_when_up(caddy)
        if not no_worker:
            # The worker is (re)starting: deployments it was running lost their task.
            call_command("setup_schedules")
            call_command("reconcile")
        _preload()
        connections.close_all()  # a connection must not be shared across the fork
        gc.collect()
        gc.freeze()  # keep the collector from touching (and copying) the shared pages
        sys.stdout.flush()
        sys.stderr.flush()
        children = [f"web={_fork('butler web', lambda: _run_web(host, port))}"]
        if not no_worker:
            children.append(f"worker={_fork('butler worker', _run_worker)}")
        argv = [sys.executable, "-S", str(LAUNCHER), "--url", f"http://{host}:{port}/"]
        for child in children:
            argv += ["--child", child]
        if caddy is not None:
            argv += runner.launcher_arguments(caddy)
        os.execv(sys.executable, argv)  # noqa: S606 - argv is ours, no shell


def _preload() -> None:
    """Import what the web server and the worker run, before they are forked."""
    import deployments.runtime.docker_engine
    import deployments.tasks  # noqa: F401

    get_resolver().url_patterns  # noqa: B018 - imports every view, serializer and service


def _fork(title: str, run) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setpgid(0, 0)  # its own process group: the supervisor stops it as a whole
        die_with_parent()  # and a killed supervisor takes it along
        _set_title(title)
        run()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # never return into the parent's code


def _set_title(title: str) -> None:
    try:
        import setproctitle
    except ImportError:  # a nicety for ps and top, nothing depends on it
        return
    setproctitle.setproctitle(title)


def _run_web(host: str, port: int) -> None:
    from daphne.cli import CommandLineInterface

    sys.argv = ["daphne"]
    CommandLineInterface().run(["-b", host, "-p", str(port), "butler_site.asgi:application"])


def _run_worker() -> None:
    from django_q.cluster import Cluster

    cluster = Cluster()
    cluster.start()
    cluster.sentinel.join()  # until SIGTERM: the cluster's handler stops it in order

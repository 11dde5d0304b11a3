"""Benchmark the web UI's pages: the median time to answer each one with a lot of data.

    .venv/bin/python bench/pages.py [--projects 200] [--deployments 200] [--runs 30]

Builds a throwaway Butler database (SQLite in a temporary data dir, migrated, DEBUG off) for
one user with `--projects` top-level projects (a third running with a deployment and a
release each, a third multi-repository with two deployed components, a third failed), one of
which has `--deployments` deployments (releases, 40 log lines each) and 50 environment
variables. Then it asks for every page through Django's test client (the whole middleware
stack, templates and queries, no network) `--runs` times and prints, for each page, the
median and the slowest answer and the number of queries. Target: every median under 100 ms.

Pages: the dashboard, "+ New Deploy", Settings, and a project's Deploy, Configuration,
Environment Variables, Deployments and Logs pages (a page that does not exist yet is
reported as such, not timed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(data_dir: Path) -> None:
    os.environ["BUTLER_DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "butler_site.settings"
    os.environ.setdefault("DEBUG", "0")
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def populate(*, projects: int, deployments: int):
    from django.utils import timezone

    from accounts.models import User
    from deployments.models import Deployment, LogLine, Release
    from envvars import services as envvar_services
    from projects.models import Project

    user = User.objects.create_user(username="bench", email="bench@example.com", password="x")
    now = timezone.now()

    def deployed(project, number=1):
        release = Release.objects.create(
            project=project, number=number, image_tag=f"butler/{project.app_name}:v{number}"
        )
        return Deployment.objects.create(
            project=project,
            number=number,
            trace_id=f"bench-{project.id}-{number}",
            git_url=project.git_url,
            status=Deployment.Status.RUNNING,
            release=release,
            commit_sha=f"{number:040x}",
            started_at=now,
            finished_at=now,
        )

    made = []
    for i in range(projects):
        kind = i % 3
        name = f"app-{i:04d}"
        if kind == 0:
            project = Project.objects.create(
                owner=user,
                app_name=name,
                git_url=f"https://example.com/{name}.git",
                status=Project.Status.RUNNING,
                deployed_url=f"http://localhost:{8100 + i}",
            )
            deployed(project)
        elif kind == 1:
            project = Project.objects.create(
                owner=user,
                app_name=name,
                git_url=f"split::https://example.com/{name}-fe.git|https://example.com/{name}-be.git",
                status=Project.Status.RUNNING,
            )
            for component in ("frontend", "backend"):
                child = Project.objects.create(
                    owner=user,
                    app_name=f"{name}-{component}",
                    git_url=f"https://example.com/{name}-{component}.git",
                    parent=project,
                    component_type=component,
                    status=Project.Status.RUNNING,
                )
                deployed(child)
        else:
            project = Project.objects.create(
                owner=user,
                app_name=name,
                git_url=f"https://example.com/{name}.git",
                status=Project.Status.FAILED,
            )
        made.append(project)

    busy = Project.objects.create(
        owner=user,
        app_name="busy",
        git_url="https://example.com/busy.git",
        status=Project.Status.RUNNING,
        deployed_url="http://localhost:8999",
    )
    for number in range(1, deployments + 1):
        deployment = deployed(busy, number)
        if number < deployments:
            Deployment.objects.filter(id=deployment.id).update(status=Deployment.Status.SUPERSEDED)
        LogLine.objects.bulk_create(
            LogLine(deployment=deployment, seq=n, stream="build", text=f"step {n} of the build")
            for n in range(1, 41)
        )
    envvar_services.envvars_replace(
        project=busy, variables={f"VAR_{n:02d}": f"value-{n}" for n in range(50)}
    )
    return user, busy


def measure(client, path: str, runs: int) -> tuple[int, list[float], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    first = client.get(path)  # warm the template cache and the connection
    if first.status_code != 200:
        return first.status_code, [], 0
    times = []
    queries = 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - start) * 1000)
        queries = max(queries, len(captured.captured_queries))
        assert response.status_code == 200, (path, response.status_code)
    return 200, times, queries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--deployments", type=int, default=200)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="butler-bench-pages-"))
    try:
        setup_django(data_dir)
        from django.test import Client

        user, busy = populate(projects=args.projects, deployments=args.deployments)
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
        pages = {
            "dashboard": "/",
            "new deploy": "/new/",
            "settings": "/settings/",
            "project: deploy": f"/apps/{busy.id}/",
            "project: configuration": f"/apps/{busy.id}/configuration/",
            "project: env": f"/apps/{busy.id}/env/",
            "project: deployments": f"/apps/{busy.id}/deployments/",
            "project: logs": f"/apps/{busy.id}/logs/",
        }
        print(
            f"{args.projects} projects, one with {args.deployments} deployments and 50 "
            f"variables; {args.runs} runs per page (Django test client, DEBUG off)"
        )
        print(f"{'page':<24} {'median ms':>10} {'max ms':>8} {'queries':>8}")
        slow = []
        for label, path in pages.items():
            status, times, queries = measure(client, path, args.runs)
            if status != 200:
                print(f"{label:<24} {'HTTP ' + str(status):>10}  ({path})")
                continue
            median = statistics.median(times)
            print(f"{label:<24} {median:>10.1f} {max(times):>8.1f} {queries:>8}")
            if median >= 100:
                slow.append(label)
        if slow:
            print("over 100 ms:", ", ".join(slow))
        return 1 if slow else 0
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

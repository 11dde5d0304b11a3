"""Deploy every corpus repository and the project's own samples through a real Butler.

    .venv/bin/python bench/corpus.py [--only NAME,NAME] [--no-samples] [--no-corpus]

Starts Butler the way `bench/deploy.py` does (daphne + the django-q2 worker on a throwaway data
dir), deploys each repository of `../shared/corpus/` (cloned from its bundle) and each sample
of `tests/samples.py`, then deploys each again unchanged, and prints a table:

    repo, strategy, outcome (served, or failed with the first sentence of its cause),
    cold time (API call to served or failed), redeploy time (the same, unchanged commit)

"Cold" is a first deploy of that repository on this Butler: the engine's layer cache and the
registries' caches may still hold what other runs fetched. Everything created is removed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from deploy import Butler, answers, http, wait_for  # noqa: E402

from tests import samples  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLES: dict[str, Callable[[Path], Path]] = {
    "sample:flask": samples.flask_repo,
    "sample:fastapi": samples.fastapi_repo,
    "sample:django": samples.django_repo,
    "sample:procfile": samples.procfile_repo,
    "sample:express": samples.express_repo,
    "sample:nextjs": samples.nextjs_repo,
    "sample:vite": samples.vite_repo,
    "sample:static": samples.static_repo,
    "sample:dockerfile": samples.dockerfile_repo,
    "sample:compose": samples.compose_repo,
    "sample:uv-psycopg2": samples.uv_psycopg2_repo,
    "sample:poetry-mysqlclient": samples.poetry_mysqlclient_repo,
    "sample:pipenv": samples.pipenv_repo,
    "sample:pyproject-psycopg3": samples.pyproject_psycopg3_repo,
    "sample:berry-typescript": samples.yarn_berry_typescript_repo,
    "sample:sveltekit-pnpm": samples.sveltekit_pnpm_repo,
    "sample:astro-yarn1": samples.astro_yarn1_repo,
}


def clone_bundle(bundle: Path, dest: Path) -> Path:
    subprocess.run(
        ["git", "clone", "-q", "-b", "main", str(bundle), str(dest)],
        check=True,
        capture_output=True,
    )
    return dest


def deploy_once(butler: Butler, **form) -> tuple[float, dict]:
    """Seconds from the API call to the deployment served (URL answering) or failed."""
    started = time.monotonic()
    queued = http("POST", f"{butler.base}/deploy", form, butler.token)
    url = f"{butler.base}/api/deployments/{queued['deployment_id']}"

    def finished():
        body = http("GET", url, token=butler.token)
        return body if body["status"] in ("running", "failed") else None

    deployment = wait_for(finished, timeout=1800, interval=0.5)
    if deployment["status"] == "running" and deployment["deployed_url"]:
        wait_for(lambda: answers(deployment["deployed_url"]), timeout=60)
    return time.monotonic() - started, deployment


def outcome(deployment: dict) -> str:
    if deployment["status"] == "running":
        return "served"
    first = (deployment.get("error") or "").strip().splitlines()[:1]
    cause = first[0] if first else "(no error)"
    return "failed: " + (cause if len(cause) <= 110 else cause[:107] + "...")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated repo names to deploy")
    parser.add_argument("--no-samples", action="store_true")
    parser.add_argument("--no-corpus", action="store_true")
    args = parser.parse_args()
    only = {name for name in args.only.split(",") if name}

    workdir = Path(tempfile.mkdtemp(prefix="butler-corpus-bench-"))
    repos_dir = workdir / "repos"
    repos_dir.mkdir()
    repos: dict[str, Path] = {}
    if not args.no_corpus:
        if not CORPUS.is_dir():
            print(f"(no corpus at {CORPUS}: skipped)")
        for bundle in sorted(CORPUS.glob("*.bundle")) if CORPUS.is_dir() else []:
            name = bundle.stem
            if not only or name in only:
                repos[name] = clone_bundle(bundle, repos_dir / name)
    if not args.no_samples:
        for name, make in SAMPLES.items():
            if not only or name in only:
                repos[name] = make(repos_dir / name.replace(":", "-"))

    butler = Butler(workdir)
    rows: list[tuple[str, str, str, float, float]] = []
    try:
        butler.start()
        for name, path in repos.items():
            cold, first = deploy_once(butler, git_url=str(path))
            again, second = deploy_once(butler, project_id=first["project_id"])
            rows.append((name, first.get("strategy") or "-", outcome(first), cold, again))
            print(f"{name:45s} {outcome(first)[:60]:60s} {cold:7.1f} s {again:6.1f} s", flush=True)
            if outcome(second) != outcome(first):
                print(f"    (redeploy: {outcome(second)})", flush=True)
            butler.delete(first["project_id"])
    finally:
        butler.stop()
        butler.remove_docker_objects()
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    header = f"| {'repo':43s} | {'strategy':11s} | {'outcome':112s} | cold s | redeploy s |"
    print(header)
    print("|" + "|".join("-" * (len(part) + 0) for part in header.split("|")[1:-1]) + "|")
    for name, strategy, result, cold, again in rows:
        print(f"| {name:43s} | {strategy:11s} | {result:112s} | {cold:6.1f} | {again:10.1f} |")


if __name__ == "__main__":
    main()

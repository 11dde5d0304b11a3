"""The README's first steps, run as pasted (bash, a fresh HOME, no network) against a real
Butler started as step 2 starts it: the tiny local repository, the curl deploy, the app."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.live_butler import RealButler, remove_everything

pytestmark = pytest.mark.docker


def shell_blocks() -> list[str]:
    text = (Path(settings.BASE_DIR) / "README.md").read_text()
    section = text.split("## First steps", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def test_the_first_steps_work_as_pasted(tmp_path):
    make_repo, start, deploy = shell_blocks()
    assert "BUTLER_LOCAL_GIT_ROOTS=~/butler-apps make run" in start
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUTLER_", "GIT_"))}
    env |= {"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["bash", "-euo", "pipefail", "-c", make_repo], env=env, cwd=tmp_path, check=True)

    # Step 2 as `make run` does it, on free ports: the allowed folder is the one step 1 made.
    butler = RealButler(tmp_path, repos=home / "butler-apps")
    try:
        butler.start()
        script = deploy.replace("B=http://127.0.0.1:8000", f"B={butler.base}")
        done = subprocess.run(
            ["timeout", "300", "bash", "-euo", "pipefail", "-c", script],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Your app: http://localhost:" in done.stdout, done.stdout
        assert "Hello from Butler" in done.stdout  # the last command fetched the app itself
        url = done.stdout.split("Your app: ", 1)[1].split()[0]
        assert "Hello from Butler" in requests.get(url, timeout=10).text
    finally:
        remove_everything(butler)

"""Static checks run with the tests: bandit finds nothing of high severity in Butler's code,
and pip-audit finds no known vulnerability in its pinned dependencies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

PACKAGES = ["accounts", "butler_site", "core", "deployments", "envvars", "gitsources", "projects"]
BIN = Path(sys.executable).parent


def test_bandit_finds_nothing_of_high_severity():
    done = subprocess.run(
        [str(BIN / "bandit"), "-q", "-r", *PACKAGES, "--severity-level", "high", "-f", "json"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(done.stdout)
    high = [
        f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_text']}"
        for r in report["results"]
        if r["issue_severity"] == "HIGH"
    ]
    assert high == []


def test_pip_audit_finds_no_known_vulnerability_in_the_requirements():
    done = subprocess.run(
        [
            str(BIN / "pip-audit"),
            "-r",
            "requirements.txt",
            "-f",
            "json",
            "--progress-spinner",
            "off",
        ],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    try:
        report = json.loads(done.stdout)
    except ValueError:
        pytest.skip(f"pip-audit could not run here: {done.stderr.strip()[-300:]}")
    dependencies = report.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    if not audited:
        # This machine reaches no vulnerability database (PyPI's JSON API, OSV): say so.
        pytest.skip(f"no vulnerability database reachable: 0 of {len(dependencies)} audited")
    vulnerable = [
        f"{d['name']} {d['version']}: {', '.join(v['id'] for v in d['vulns'])}"
        for d in audited
        if d.get("vulns")
    ]
    assert vulnerable == []

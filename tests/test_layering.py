"""Apps import downward only: butler_site -> web -> deployments -> envvars -> projects -> accounts,
with core and gitsources at the bottom. Checked on every import, those inside functions too
(an import moved into a function body to dodge a cycle is the layering being wrong)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.conf import settings

LAYERS = [
    "core",
    "gitsources",
    "accounts",
    "projects",
    "envvars",
    "deployments",
    "web",
    "butler_site",
]
# gitsources and core share the bottom: gitsources uses core's process runner and cancel.
RANK = {"core": 0, "gitsources": 1, "accounts": 2, "projects": 3, "envvars": 4}
RANK |= {"deployments": 5, "web": 6, "butler_site": 7}


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _modules():
    root = Path(settings.BASE_DIR)
    for package in LAYERS:
        for path in sorted((root / package).rglob("*.py")):
            yield package, path


@pytest.mark.parametrize("package", LAYERS)
def test_a_package_imports_only_packages_below_it(package):
    root = Path(settings.BASE_DIR)
    upward = []
    for owner, path in _modules():
        if owner != package:
            continue
        for line, module in _imports(path):
            target = module.split(".")[0]
            if target in RANK and RANK[target] > RANK[package]:
                upward.append(f"{path.relative_to(root)}:{line} imports {module}")
    assert upward == []

"""Fixtures for env var tests: alice's projects, encryption keys, and small Git repos."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from projects.services import project_import_split
from tests.factories import ProjectFactory

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
KEY_C = Fernet.generate_key().decode()


@pytest.fixture
def project(alice):
    return ProjectFactory(owner=alice, app_name="shop")


@pytest.fixture
def other_project(alice):
    return ProjectFactory(owner=alice, app_name="blog")


@pytest.fixture
def split_project(alice):
    """A multi-repo parent with its frontend and backend components."""
    return project_import_split(
        owner=alice,
        frontend_url="https://github.com/user/react-app.git",
        backend_url="https://github.com/user/flask-api.git",
    )


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def git_repo(root: Path, files: dict[str, str | bytes]) -> Path:
    """A real Git repository with one commit holding `files`."""
    root.mkdir(parents=True, exist_ok=True)
    write_tree(root, files)
    git = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run([*git, *args], cwd=root, check=True, capture_output=True, timeout=30)
    return root


@pytest.fixture
def local_git_root(settings, tmp_path) -> Path:
    """A folder Butler may clone local repositories from (BUTLER_LOCAL_GIT_ROOTS)."""
    root = tmp_path / "repos"
    root.mkdir()
    settings.BUTLER_LOCAL_GIT_ROOTS = [str(root.resolve())]
    return root.resolve()

"""Fixtures for env var tests: alice's projects, encryption keys, and small Git repos."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from projects.services import project_import_split
from tests import samples
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


# Plain trees for the scanner, real repositories for the API.
write_tree = samples.write_files
git_repo = samples.git_repo


@pytest.fixture
def local_git_root(settings, tmp_path) -> Path:
    """A folder Butler may clone local repositories from (BUTLER_LOCAL_GIT_ROOTS)."""
    root = tmp_path / "repos"
    root.mkdir()
    settings.BUTLER_LOCAL_GIT_ROOTS = [str(root.resolve())]
    return root.resolve()

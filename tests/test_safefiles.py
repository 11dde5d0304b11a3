"""Reading a hostile repository's files: a symlink anywhere on the way is refused."""

from __future__ import annotations

import pytest

from core.safefiles import UnsafePath, read_text


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    (root / "sub").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (root / "sub" / "file.txt").write_text("inside")
    outside = tmp_path / "host-secret"
    outside.write_text("root:x:0:0")
    (root / "link-out").symlink_to(outside)
    (root / "link-in").symlink_to(root / "Dockerfile")
    (root / "dir-out").symlink_to(tmp_path)
    (root / "dangling").symlink_to(tmp_path / "nothing-here")
    return root


def test_it_reads_plain_files_and_says_none_for_missing_ones(repo):
    assert read_text(repo, "Dockerfile") == "FROM python:3.11-slim\n"
    assert read_text(repo, "sub/file.txt") == "inside"
    assert read_text(repo, "nope") is None
    assert read_text(repo, "sub") is None  # a directory is not a file


@pytest.mark.parametrize(
    "rel", ["link-out", "link-in", "dangling", "dir-out/host-secret", "dir-out/repo/Dockerfile"]
)
def test_it_refuses_every_symlink_even_one_that_stays_inside(repo, rel):
    with pytest.raises(UnsafePath, match="symlink"):
        read_text(repo, rel)


@pytest.mark.parametrize("rel", ["../host-secret", "/etc/passwd", "sub/../../host-secret"])
def test_it_refuses_paths_that_leave_the_root(repo, rel):
    with pytest.raises(UnsafePath):
        read_text(repo, rel)


def test_it_refuses_a_file_over_the_limit(repo):
    (repo / "big").write_bytes(b"x" * 2048)
    with pytest.raises(UnsafePath, match="larger than"):
        read_text(repo, "big", limit=1024)

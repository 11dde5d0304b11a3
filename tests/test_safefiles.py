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
    (root / "link-in").symlink_to("Dockerfile")
    (root / "abs-in").symlink_to(root / "Dockerfile")  # absolute, even if it lands inside
    (root / "loop").symlink_to("loop")
    (root / "dir-out").symlink_to(tmp_path)
    (root / "dangling").symlink_to(tmp_path / "nothing-here")
    return root


def test_it_reads_plain_files_and_says_none_for_missing_ones(repo):
    assert read_text(repo, "Dockerfile") == "FROM python:3.11-slim\n"
    assert read_text(repo, "sub/file.txt") == "inside"
    assert read_text(repo, "nope") is None
    assert read_text(repo, "sub") is None  # a directory is not a file


@pytest.mark.parametrize(
    "rel",
    ["link-out", "abs-in", "dangling", "dir-out/host-secret", "dir-out/repo/Dockerfile", "loop"],
)
def test_it_refuses_symlinks_that_lead_out(repo, rel):
    with pytest.raises(UnsafePath, match="symlink"):
        read_text(repo, rel)


def test_it_follows_a_symlink_that_stays_inside(repo):
    (repo / "docker").mkdir()
    (repo / "docker" / "Dockerfile.prod").write_text("FROM node:20-slim\n")
    (repo / "Dockerfile.link").symlink_to("docker/Dockerfile.prod")
    (repo / "sub" / "up").symlink_to("../Dockerfile")
    (repo / "escape").symlink_to("sub/../../host-secret")
    assert read_text(repo, "link-in") == "FROM python:3.11-slim\n"  # absolute: refused below
    assert read_text(repo, "Dockerfile.link") == "FROM node:20-slim\n"
    assert read_text(repo, "sub/up") == "FROM python:3.11-slim\n"
    with pytest.raises(UnsafePath):
        read_text(repo, "escape")


@pytest.mark.parametrize("rel", ["../host-secret", "/etc/passwd", "sub/../../host-secret"])
def test_it_refuses_paths_that_leave_the_root(repo, rel):
    with pytest.raises(UnsafePath):
        read_text(repo, rel)


def test_it_refuses_a_file_over_the_limit(repo):
    (repo / "big").write_bytes(b"x" * 2048)
    with pytest.raises(UnsafePath, match="larger than"):
        read_text(repo, "big", limit=1024)

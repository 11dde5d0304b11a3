"""Reading files of a repository Butler cloned, without ever following a symlink out of it.

A repository is hostile: it may commit `Dockerfile`, `.dockerignore` or `.env` as a symlink
to a file on the Butler host (`/etc/shadow`, the data dir's keys), or a directory on the way
as one. Every component of the path is opened relative to the one before with `O_NOFOLLOW`;
a symlink met on the way is read as text and followed only when its target, taken as a path
inside the repository, stays inside it (`Dockerfile -> docker/Dockerfile.prod`). One that
leaves (absolute, or `..` past the top) is refused, whatever it points at.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path, PurePosixPath

MAX_BYTES = 1024 * 1024


class UnsafePath(Exception):
    """The path leaves the root, or goes through a symlink; the message says which."""


def _parts(rel: str) -> list[str]:
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts:
        raise UnsafePath(f"'{rel}' is not a path inside the repository")
    return [p for p in path.parts if p not in ("", ".")]


MAX_LINKS = 8


def open_nofollow(root: Path | str, rel: str, flags: int = os.O_RDONLY) -> int:
    """A file descriptor for `root/rel`, never following a symlink out of `root`.

    Raises `UnsafePath` for a path or symlink leaving `root`, `FileNotFoundError` if absent.
    """
    parts = _parts(rel)
    if not parts:
        raise UnsafePath(f"'{rel}' names no file")
    links = 0
    done: list[str] = []  # the components opened so far, from the root
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        while parts:
            part = parts.pop(0)
            last = not parts
            mode = (flags if last else os.O_RDONLY | os.O_DIRECTORY) | os.O_NOFOLLOW
            try:
                child = os.open(part, mode, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(part, fd):
                    links += 1
                    target = _inside_target(rel, done, os.readlink(part, dir_fd=fd))
                    if links > MAX_LINKS or target is None:
                        raise UnsafePath(
                            f"'{rel}' is a symlink (or goes through one) that leads outside the "
                            "repository; Butler does not follow those"
                        ) from None
                    # Start again from the root with the link's target in its place.
                    os.close(fd)
                    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
                    parts, done = [*target, *parts], []
                    continue
                if exc.errno == errno.ENOTDIR:
                    raise FileNotFoundError(errno.ENOENT, "not a directory", rel) from None
                raise
            os.close(fd)
            fd = child
            done.append(part)
        return fd
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise


def _inside_target(rel: str, done: list[str], target: str) -> list[str] | None:
    """The components of a symlink's target from the repository's top, None if it leaves."""
    if target.startswith("/"):
        return None
    resolved: list[str] = list(done)
    for piece in PurePosixPath(target).parts:
        if piece in ("", "."):
            continue
        if piece == "..":
            if not resolved:
                return None
            resolved.pop()
        else:
            resolved.append(piece)
    return resolved or None


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def read_text(root: Path | str, rel: str, *, limit: int = MAX_BYTES) -> str | None:
    """The text of a regular file of the repository, or None if there is none.

    Raises `UnsafePath` for a symlink, and for a file larger than `limit` bytes.
    """
    try:
        fd = open_nofollow(root, rel)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnsafePath(f"'{rel}' is larger than {limit // 1024} KB")
    return data.decode("utf-8", errors="replace")

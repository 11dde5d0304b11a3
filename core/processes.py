"""The one way Butler runs a long external command (git, docker compose) and reads its output.

`run_streaming` starts the command in its own process group with the environment it is given
(nothing inherited), streams its merged stdout/stderr line by line to a callback, keeps the
tail, and kills the whole group (helpers included) when the time is up, when a cancel token
fires, or when a `watch` check says stop (the clone's size limit). The caller turns the
result into its own error. The command also dies with the process that started it (Linux's
parent-death signal): a worker killed mid-deploy leaves no `git` or `docker compose` behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.cancel import CancelToken

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.1


@dataclass
class ProcessResult:
    returncode: int | None
    timed_out: bool = False
    cancelled: bool = False
    stopped_by_watch: str | None = None  # what the watch said when it stopped the command
    lines: list[str] = field(default_factory=list)  # the last lines (transformed)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not (
            self.timed_out or self.cancelled or self.stopped_by_watch
        )


_PR_SET_PDEATHSIG = 1
try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
except OSError:  # not Linux: the command outlives a killed parent, as everywhere else
    _libc = None


def die_with_parent() -> None:
    """In a child, before exec: SIGKILL it when the parent dies (Linux `PR_SET_PDEATHSIG`)."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ProcessStartError(OSError):
    """The command could not be started at all (not installed, not executable)."""


def run_streaming(
    args: Sequence[str],
    *,
    cwd: Path | str,
    env: dict[str, str],
    timeout: float,
    on_line: Callable[[str], None] | None = None,
    transform: Callable[[str], str] | None = None,
    cancel: CancelToken | None = None,
    watch: Callable[[], str | None] | None = None,
    watch_every: float = POLL_SECONDS,
    tail: int = 200,
) -> ProcessResult:
    """Run `args` to the end (or until stopped); see the module docstring.

    `transform` (masking secrets, stripping credentials) applies to every line before it is
    kept or passed on. Progress output that redraws with `\\r` is reduced to its last state.
    `watch` runs every `watch_every` seconds (less often if it is slow itself) and returns a
    reason to stop, or None. Raises `ProcessStartError` if the command cannot start.
    """
    try:
        proc = subprocess.Popen(
            list(args),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: a kill takes the helpers along
            preexec_fn=die_with_parent,  # a single prctl call: safe between fork and exec
        )
    except OSError as exc:
        raise ProcessStartError(exc.errno, exc.strerror or str(exc)) from exc
    reader = _LineReader(proc, on_line=on_line, transform=transform, tail=tail)
    result = ProcessResult(returncode=None)
    deadline = time.monotonic() + timeout
    next_watch = time.monotonic()

    def kill() -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    guard = cancel.on_cancel(kill) if cancel is not None else contextlib.nullcontext()
    try:
        with guard:
            while proc.poll() is None:
                now = time.monotonic()
                if cancel is not None and cancel.cancelled:
                    result.cancelled = True
                    break
                if now > deadline:
                    result.timed_out = True
                    break
                if watch is not None and now >= next_watch:
                    reason = watch()
                    spent = time.monotonic() - now
                    next_watch = time.monotonic() + max(watch_every, 4 * spent)
                    if reason:
                        result.stopped_by_watch = reason
                        break
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=min(POLL_SECONDS, max(deadline - now, 0.01)))
            if cancel is not None and cancel.cancelled and proc.returncode not in (0, None):
                result.cancelled = True  # the kill came from the token's callback
    finally:
        kill()  # also reaps helpers left behind after a normal exit
        proc.wait()
        reader.join()
    result.returncode = proc.returncode
    result.lines = list(reader.lines)
    return result


class _LineReader:
    """Reads the command's merged output on a thread; keeps the tail; forwards whole lines."""

    def __init__(self, proc, *, on_line, transform, tail: int) -> None:
        self.lines: deque[str] = deque(maxlen=tail)
        self._on_line = on_line
        self._transform = transform
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc) -> None:
        pending = b""
        while chunk := proc.stdout.read1(65536):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                self._emit(raw)
        if pending:
            self._emit(pending)

    def _emit(self, raw: bytes) -> None:
        # Progress redraws with \r; only the last state of a line is worth keeping.
        line = raw.rstrip(b"\r").split(b"\r")[-1].decode("utf-8", errors="replace").rstrip()
        if not line:
            return
        if self._transform is not None:
            line = self._transform(line)
        self.lines.append(line)
        if self._on_line is not None:
            try:
                self._on_line(line)
            except Exception:  # a broken log sink must not break the command
                logger.warning("output callback failed", exc_info=True)

    def join(self) -> None:
        self._thread.join(timeout=5)

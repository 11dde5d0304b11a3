"""Cancelling long work from another thread: a deploy's clone, build, start or wait.

The worker's watcher thread calls `token.cancel(reason)` when a user asks to cancel; the code
doing the work either checks `token.raise_if_cancelled()` between steps or registers a
callback (`token.on_cancel(kill)`) that interrupts a blocking call (a git process, a build
stream).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable


class Cancelled(Exception):
    """The work was cancelled; the message says why (e.g. "Cancelled by alice")."""


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.reason = ""

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self, reason: str = "Cancelled") -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            with contextlib.suppress(Exception):  # one broken callback must not stop the rest
                callback()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled(self.reason)

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds; True (at once) if cancelled meanwhile."""
        return self._event.wait(timeout)

    @contextlib.contextmanager
    def on_cancel(self, callback: Callable[[], None]):
        """Run `callback` if the token is cancelled while the block runs (or already was)."""
        with self._lock:
            self._callbacks.append(callback)
            already = self._event.is_set()
        try:
            if already:
                callback()
            yield
        finally:
            with self._lock, contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

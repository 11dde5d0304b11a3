"""How fast one socket is sent lines, and what it is told when it cannot keep up.

A WebSocket server cannot see how fast its client reads (daphne buffers whatever it is
given), so every socket gets a budget: at most `rate` lines a second, and at most one
second's worth waiting. When more wait, the oldest go and the client is told how many with
`{"type": "skipped", "count": N}` before the lines that follow the gap. The full deployment
log stays in the database (`GET /api/deployments/{id}/logs`), so nothing is lost for good.

Other messages (a status change) keep their place among the lines and are never dropped.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MAX_LINES_PER_MESSAGE = 500


class LinePacer:
    def __init__(self, rate: int, *, backlog: int | None = None) -> None:
        self.rate = max(1, int(rate))
        self.backlog = max(1, backlog if backlog is not None else self.rate)
        self._tokens = float(self.rate)
        self._refilled = time.monotonic()
        self._lines: deque = deque()
        self._gone = 0  # lines taken or dropped so far: the position of `_lines[0]`
        self._added = 0
        self._messages: deque[tuple[int, dict]] = deque()  # (lines before it, message)
        self._skipped = 0

    @property
    def empty(self) -> bool:
        return not self._lines and not self._messages and not self._skipped

    @property
    def waiting_lines(self) -> int:
        return len(self._lines)

    def add_lines(self, lines: list) -> None:
        self._lines.extend(lines)
        self._added += len(lines)
        over = len(self._lines) - self.backlog
        if over > 0:
            for _ in range(over):
                self._lines.popleft()
            self._gone += over
            self._skipped += over

    def skip(self, count: int) -> None:
        """`count` lines were lost after the ones waiting now (they never got here)."""
        if count <= 0:
            return
        if self._lines:
            self.add_message({"type": "skipped", "count": count})
        else:
            self._skipped += count

    def add_message(self, message: dict) -> None:
        """Send `message` after the lines added so far."""
        self._messages.append((self._added, message))

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(float(self.rate), self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now

    def take(self, render: Callable[[list], list[dict]] = list) -> list[dict]:
        """The messages to send now, in order; `render` turns waiting lines into the JSON
        lines of a `log` message (for runtime logs: masking them)."""
        self._refill()
        out: list[dict] = []
        while True:
            while self._messages and self._messages[0][0] <= self._gone:
                out.append(self._messages.popleft()[1])
            n = min(len(self._lines), int(self._tokens), MAX_LINES_PER_MESSAGE)
            if self._messages:
                n = min(n, self._messages[0][0] - self._gone)
            if n <= 0:
                break
            if self._skipped:
                out.append({"type": "skipped", "count": self._skipped})
                self._skipped = 0
            batch = [self._lines.popleft() for _ in range(n)]
            self._gone += n
            self._tokens -= n
            out.append({"type": "log", "lines": render(batch)})
        if self._skipped and not self._lines:
            out.append({"type": "skipped", "count": self._skipped})
            self._skipped = 0
        return out

    def wait_seconds(self) -> float | None:
        """How long until more can be sent; None when nothing waits."""
        if not self._lines:
            return None if not self._messages else 0.0
        self._refill()
        return max(0.0, (1.0 - self._tokens) / self.rate)

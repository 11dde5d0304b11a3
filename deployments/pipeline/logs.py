"""A deployment's log: numbered lines stored in the database, secrets masked, size capped.

Lines get their `seq` as they come and are stored in batches: the pipeline's own messages
(info, warning, error) at once; build and app output at once after a quiet spell, and while
it keeps coming at most every `BUTLER_LOG_FLUSH_SECONDS` (or every `FLUSH_EVERY_LINES`); a
background flusher stores a batch whose output has gone quiet, so the last line before a
long silent step is not held back.
Batches are stored one at a time, in `seq` order, and every stored batch is published as a
`deployment.log` event (its seq range and lines) for the live log WebSockets.

At most `BUTLER_LOG_MAX_LINES` lines are stored per deployment. Beyond that, build and app
output is counted instead of stored (a warning line says so when it starts, and another
gives the count once the flood ends), while the pipeline's own messages are still kept,
so a deployment that fails after a flood still says why.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from django.conf import settings
from django.db import IntegrityError, connection, connections
from django.db.models import Max

from core import events
from core.masking import Masker
from deployments.models import Deployment, LogLine

logger = logging.getLogger(__name__)

FLUSH_EVERY_LINES = 500
MAX_LINE = 4000
OUTPUT_STREAMS = frozenset({LogLine.Stream.BUILD, LogLine.Stream.APP})


class DeploymentLog:
    """Appends lines to one deployment's log. Build output is buffered and flushed in batches.

    `secrets` (the values of the deployment's variables) are masked in every line before it
    is stored.
    """

    def __init__(self, deployment: Deployment):
        self.deployment_id = deployment.id
        self.owner_id = deployment.project.owner_id
        self._seq = deployment.log_lines.aggregate(n=Max("seq"))["n"] or 0
        self._buffer: list[LogLine] = []
        self._buffered_since: float | None = None
        self._stored_at = 0.0  # when the last batch was stored (monotonic)
        self._lock = threading.Lock()  # the buffer and the counters
        self._flush_lock = threading.Lock()  # one batch at a time, in seq order
        self._max_lines = settings.BUTLER_LOG_MAX_LINES
        self._flush_seconds = settings.BUTLER_LOG_FLUSH_SECONDS
        self._dropped = 0
        self._dropped_told = 0
        self._gone = False
        self._masker = Masker()
        self._secrets: list[str] = []
        # Inside a transaction (a test's) only this thread's connection sees the deployment:
        # then nothing is stored from another thread.
        self._background = not connection.in_atomic_block

    @property
    def secrets(self) -> list[str]:
        return self._secrets

    @secrets.setter
    def secrets(self, values: list[str]) -> None:
        self._secrets = list(values)
        self._masker = Masker(self._secrets)

    @property
    def dropped(self) -> int:
        """Lines of output not stored because the log reached its cap."""
        return self._dropped

    def mask(self, text: str) -> str:
        return self._masker.mask(text)

    def _line(self, stream: str, text: str) -> None:
        self._seq += 1
        self._buffer.append(
            LogLine(deployment_id=self.deployment_id, seq=self._seq, stream=stream, text=text)
        )

    def _tell_dropped(self) -> None:
        if self._dropped > self._dropped_told:
            self._dropped_told = self._dropped
            self._line(
                LogLine.Stream.WARNING,
                f"{self._dropped:,} lines of build and app output were not stored (over "
                f"BUTLER_LOG_MAX_LINES={self._max_lines}).",
            )

    def _add(self, stream: str, text: str, *, flush: bool) -> None:
        output = stream in OUTPUT_STREAMS
        with self._lock:
            if self._gone:
                return
            lines = str(text).splitlines() or [""]
            if output and self._seq >= self._max_lines:
                if not self._dropped:
                    self._line(
                        LogLine.Stream.WARNING,
                        f"The log has reached BUTLER_LOG_MAX_LINES ({self._max_lines:,} lines): "
                        "further build and app output is counted, not stored.",
                    )
                    flush = True
                self._dropped += len(lines)
                lines = []
            elif not output:
                self._tell_dropped()
            for line in lines:
                if output and self._seq >= self._max_lines:
                    self._dropped += 1
                    continue
                self._line(stream, self.mask(line)[:MAX_LINE])
            if not self._buffer:
                return
            now = time.monotonic()
            # The first line after a quiet spell goes at once; a stream of them is stored
            # (and sent) at most every `_flush_seconds`, in batches.
            due = (
                flush
                or len(self._buffer) >= FLUSH_EVERY_LINES
                or now - self._stored_at >= self._flush_seconds
            )
            if self._buffered_since is None:
                self._buffered_since = now
                if self._background and not due:
                    _flusher.schedule(self, self._stored_at + self._flush_seconds)
        if due:
            self._store()

    def flush(self) -> None:
        """Store what is buffered now (and the count of dropped output, if it grew)."""
        with self._lock:
            self._tell_dropped()
        self._store()

    def _store(self) -> None:
        with self._flush_lock:
            with self._lock:
                batch, self._buffer = self._buffer, []
                self._buffered_since = None
                self._stored_at = time.monotonic()
            if not batch or self._gone:
                return
            try:
                LogLine.objects.bulk_create(batch)
            except IntegrityError:  # the deployment was deleted meanwhile
                self._gone = True
                return
            events.publish(
                events.DEPLOYMENT_LOG,
                user_id=self.owner_id,
                deployment_id=self.deployment_id,
                first_seq=batch[0].seq,
                last_seq=batch[-1].seq,
                lines=[
                    {
                        "seq": ln.seq,
                        "time": ln.created_at.isoformat(),
                        "stream": ln.stream,
                        "text": ln.text,
                    }
                    for ln in batch
                ],
            )

    def info(self, text: str) -> None:
        self._add(LogLine.Stream.SYSTEM, text, flush=True)

    def warning(self, text: str) -> None:
        self._add(LogLine.Stream.WARNING, text, flush=True)

    def error(self, text: str) -> None:
        self._add(LogLine.Stream.ERROR, text, flush=True)

    def build(self, text: str) -> None:
        self._add(LogLine.Stream.BUILD, text, flush=False)

    def app(self, text: str) -> None:
        self._add(LogLine.Stream.APP, text, flush=True)


def deployment_log_closed(*, deployment_id: int) -> None:
    """Announce that no more lines will come (the worker's run of the deployment is over), so
    live log sockets close once they have sent up to `last_seq`."""
    row = Deployment.objects.filter(id=deployment_id).values("project__owner_id").first()
    if row is None:
        return
    last = LogLine.objects.filter(deployment_id=deployment_id).aggregate(n=Max("seq"))["n"] or 0
    events.publish(
        events.DEPLOYMENT_LOG,
        user_id=row["project__owner_id"],
        deployment_id=deployment_id,
        first_seq=last + 1,
        last_seq=last,
        lines=[],
        closed=True,
    )


class _Flusher:
    """One thread per process that stores batches whose output went quiet."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[DeploymentLog, float] = {}
        self._pid = 0

    def schedule(self, log: DeploymentLog, deadline: float) -> None:
        with self._cond:
            if self._pid != os.getpid():  # first use, or a forked worker: a thread of our own
                self._pid = os.getpid()
                self._due = {}
                threading.Thread(target=self._run, name="butler-log-flusher", daemon=True).start()
            self._due.setdefault(log, deadline)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._due:
                    connections.close_all()  # idle: hold no database connection
                    self._cond.wait()
                now = time.monotonic()
                ready = [log for log, when in self._due.items() if when <= now]
                if not ready:
                    self._cond.wait(min(self._due.values()) - now)
                    continue
                for log in ready:
                    del self._due[log]
            for log in ready:
                try:
                    log._store()
                except Exception:  # the run's own flushes still store what is left
                    logger.warning("could not store a log batch", exc_info=True)


_flusher = _Flusher()

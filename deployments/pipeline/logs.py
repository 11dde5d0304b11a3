"""A deployment's log: numbered lines stored in the database, secrets masked."""

from __future__ import annotations

import threading
import time

from django.db import IntegrityError
from django.db.models import Max

from core import events
from deployments.models import Deployment, LogLine
from deployments.runtime.base import redact

FLUSH_EVERY_SECONDS = 0.5
FLUSH_EVERY_LINES = 50
MAX_LINE = 4000


class DeploymentLog:
    """Appends lines to one deployment's log. Build output is buffered and flushed in batches."""

    def __init__(self, deployment: Deployment):
        self.deployment_id = deployment.id
        self.owner_id = deployment.project.owner_id
        self._seq = deployment.log_lines.aggregate(n=Max("seq"))["n"] or 0
        self._buffer: list[LogLine] = []
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        self.secrets: list[str] = []

    def mask(self, text: str) -> str:
        return redact(text, self.secrets)

    def _add(self, stream: str, text: str, *, flush: bool) -> None:
        with self._lock:
            for line in self.mask(str(text)).splitlines() or [""]:
                self._seq += 1
                self._buffer.append(
                    LogLine(
                        deployment_id=self.deployment_id,
                        seq=self._seq,
                        stream=stream,
                        text=line[:MAX_LINE],
                    )
                )
            due = (
                flush
                or len(self._buffer) >= FLUSH_EVERY_LINES
                or time.monotonic() - self._last_flush >= FLUSH_EVERY_SECONDS
            )
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._buffer = self._buffer, []
            self._last_flush = time.monotonic()
        if batch:
            try:
                LogLine.objects.bulk_create(batch)
            except IntegrityError:  # the deployment was deleted meanwhile
                return
            events.publish(
                events.DEPLOYMENT_LOG,
                user_id=self.owner_id,
                deployment_id=self.deployment_id,
                first_seq=batch[0].seq,
                last_seq=batch[-1].seq,
                lines=[{"seq": ln.seq, "stream": ln.stream, "text": ln.text} for ln in batch],
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

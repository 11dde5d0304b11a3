"""The embedded fan-out: one outbox reader per web process serves all of its sockets.

Without Redis, events cross from the worker (and from other web processes) through the
outbox table (`core.events`). Each web process runs one `Hub` on its event loop while it has
sockets: one query per `BUTLER_EVENTS_POLL_SECONDS` reads the new events for all of them,
and one more per followed deployment reads the stored lines of its new log batches (an
outbox row carries only their seq range). Each event then goes to the callbacks of the
sockets of its user, in the order it was published. The cost of an idle socket is a dict
entry; the poll's cost does not grow with the number of sockets.

Both queries run on one thread of the hub's own, which keeps its database connection open
between polls (opening one per poll would cost more than the query). The reader stops, and
closes its connection, a few seconds after the last socket went.

Ids are handed out in commit order on SQLite (one writer at a time). On PostgreSQL a later
id can commit first: an id the reader skipped over is looked for again for a few seconds.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connections

from core import events
from deployments.models import LogLine

logger = logging.getLogger(__name__)

Callback = Callable[[dict], None]

READ_LIMIT = 500
GAP_SECONDS = 5.0  # how long an id skipped over may still turn up
MAX_GAPS = 1000
LINGER_SECONDS = 5.0  # keep reading this long after the last socket left (reconnects)
RETRY_SECONDS = 1.0


def _lines(deployment_id: int, first: int, last: int) -> list[dict]:
    rows = (
        LogLine.objects.filter(deployment_id=deployment_id, seq__gte=first, seq__lte=last)
        .order_by("seq")
        .values_list("seq", "created_at", "stream", "text")
    )
    return [
        {"seq": seq, "time": created.isoformat(), "stream": stream, "text": text}
        for seq, created, stream, text in rows
    ]


def _read(after: int, gaps: list[int], followed: set[int]):
    """(rows, lines by deployment): new outbox rows, and the stored lines of the log batches
    of deployments some socket here follows."""
    rows = events.outbox_read(after=after, also=gaps, limit=READ_LIMIT)
    ranges: dict[int, list[int]] = {}
    for row in rows:
        data = row.event.data
        if row.event.type != events.DEPLOYMENT_LOG or row.deployment_id not in followed:
            continue
        if data.get("closed") or "first_seq" not in data:
            continue
        span = ranges.setdefault(row.deployment_id, [data["first_seq"], data["last_seq"]])
        span[0], span[1] = min(span[0], data["first_seq"]), max(span[1], data["last_seq"])
    lines = {}
    for dep, (first, last) in ranges.items():
        stored = _lines(dep, first, last)
        lines[dep] = ([line["seq"] for line in stored], stored)
    return rows, lines


def _close_connection() -> None:
    connections.close_all()


class Hub:
    """One per event loop (under daphne: per web process)."""

    def __init__(self) -> None:
        self._by_user: dict[int, set[Callback]] = defaultdict(set)
        self._followed: Counter[int] = Counter()
        self._task: asyncio.Task | None = None
        self._ready: asyncio.Event = asyncio.Event()
        self._executor: ThreadPoolExecutor | None = None
        self._cursor = 0
        self._gaps: dict[int, float] = {}
        self.polls = 0  # queries of the outbox so far (the bench and tests read it)

    @property
    def sockets(self) -> int:
        return sum(len(callbacks) for callbacks in self._by_user.values())

    async def subscribe(
        self, *, user_id: int, callback: Callback, deployment_id: int | None = None
    ) -> Callable[[], None]:
        """Call `callback(event message)` for every event of `user_id` published from now
        on (for log batches of `deployment_id`, with their lines). Returns once the reader
        is reading, so whatever the caller reads from the database next cannot fall
        between the two."""
        self._by_user[user_id].add(callback)
        if deployment_id is not None:
            self._followed[deployment_id] += 1
        if self._task is None:
            self._ready = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(self._ready))
        await self._ready.wait()
        done = False

        def unsubscribe() -> None:
            nonlocal done
            if done:
                return
            done = True
            callbacks = self._by_user.get(user_id)
            if callbacks is not None:
                callbacks.discard(callback)
                if not callbacks:
                    del self._by_user[user_id]
            if deployment_id is not None:
                self._followed[deployment_id] -= 1
                if self._followed[deployment_id] <= 0:
                    del self._followed[deployment_id]

        return unsubscribe

    async def _call(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _run(self, ready: asyncio.Event) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="butler-events")
        executor = self._executor
        try:
            while True:
                try:
                    self._cursor = await self._call(events.outbox_last_id)
                    break
                except Exception:
                    logger.warning("could not read the event outbox; retrying", exc_info=True)
                    await self._call(_close_connection)
                    await asyncio.sleep(RETRY_SECONDS)
            self._gaps = {}
            ready.set()
            idle_since: float | None = None
            while True:
                if self._by_user:
                    idle_since = None
                else:
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since >= LINGER_SECONDS:
                        self._task = None  # from here on a new subscriber starts a new reader
                        return
                started = time.monotonic()
                try:
                    full = await self._poll()
                except Exception:  # the database went away: try again, on a new connection
                    logger.warning("could not read new events; retrying", exc_info=True)
                    await self._call(_close_connection)
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
                if not full:
                    interval = max(0.01, settings.BUTLER_EVENTS_POLL_SECONDS)
                    await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("the event reader stopped; sockets get no more events")
            if self._task is asyncio.current_task():
                self._task = None
        finally:
            ready.set()  # never leave a subscriber waiting
            with contextlib.suppress(Exception):
                await asyncio.get_running_loop().run_in_executor(executor, _close_connection)
            executor.shutdown(wait=False)

    async def _poll(self) -> bool:
        """Read and hand out one batch of events; True if there may be more right away."""
        now = time.monotonic()
        self._gaps = {gap: until for gap, until in self._gaps.items() if until > now}
        rows, lines = await self._call(_read, self._cursor, list(self._gaps), set(self._followed))
        self.polls += 1
        if not rows:
            return False
        seen = {row.id for row in rows}
        for gap in seen & set(self._gaps):
            del self._gaps[gap]
        top = max(seen)
        if top > self._cursor:
            missing = set(range(self._cursor + 1, top)) - seen
            if len(missing) + len(self._gaps) <= MAX_GAPS:
                self._gaps.update(dict.fromkeys(missing, now + GAP_SECONDS))
            self._cursor = top
        for row in rows:
            self._dispatch(row, lines)
        return len(rows) >= READ_LIMIT

    def _dispatch(self, row: events.OutboxRow, lines: dict) -> None:
        callbacks = self._by_user.get(row.event.user_id)
        if not callbacks:
            return
        message = row.event.as_message()
        if row.event.type == events.DEPLOYMENT_LOG and row.deployment_id in lines:
            seqs, stored = lines[row.deployment_id]
            lo = bisect.bisect_left(seqs, message.get("first_seq", 0))
            hi = bisect.bisect_right(seqs, message.get("last_seq", -1))
            message["lines"] = stored[lo:hi]
        for callback in list(callbacks):
            try:
                callback(message)
            except Exception:
                logger.warning("a socket failed on %s", message.get("type"), exc_info=True)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    """The hub of the running event loop."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub()
    return hub

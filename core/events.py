"""The one publisher of Butler's events, delivered after the database commit.

    events.publish("deployment.status", user_id=owner.id, deployment_id=7, status="running")

Types: `deployment.status`, `project.status`, `project.deleted`, `deployment.log` (a batch
of lines, or with `closed` the end of a deployment's log) and `user.credentials_revoked` (a
password change: open sockets check their token again). Every event names the user it
belongs to, so a consumer only ever forwards a user's own events. `publish` inside a
transaction delivers once it commits (nothing is sent for work that rolls back); outside
one, at once.

Delivery goes to every sink:
- in-process subscribers (`subscribe`);
- without `REDIS_URL` (the embedded default), the outbox table (`core.models.OutboxEvent`),
  written in the publisher's own transaction, so it commits or rolls back with the change.
  Each web process reads it with one query per interval for all of its WebSockets
  (`outbox_read`); a log batch is stored as the `seq` range of its lines, not their text;
- with `REDIS_URL`, the Channels layer: groups `user-<id>` (every event but log batches) and
  `deployment-<id>` (the events of that deployment), as `{"type": "butler.event",
  "event": {...}}`, which reach WebSocket consumers in any web process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from core.models import OutboxEvent

logger = logging.getLogger(__name__)

DEPLOYMENT_STATUS = "deployment.status"
PROJECT_STATUS = "project.status"
PROJECT_DELETED = "project.deleted"
DEPLOYMENT_LOG = "deployment.log"
CREDENTIALS_REVOKED = "user.credentials_revoked"
# For the consumers' own use; `ws/events/` does not forward them to clients.
INTERNAL = frozenset({DEPLOYMENT_LOG, CREDENTIALS_REVOKED})
# Outbox rows older than this are pruned by the reconcile (readers need seconds, not hours).
OUTBOX_KEEP = timedelta(minutes=10)


@dataclass(frozen=True)
class Event:
    type: str
    user_id: int
    data: dict = field(default_factory=dict)

    def as_message(self) -> dict:
        return {"type": self.type, **self.data}


_lock = threading.Lock()
_subscribers: list[Callable[[Event], None]] = []


def subscribe(callback: Callable[[Event], None]) -> Callable[[], None]:
    """Call `callback(event)` for every event delivered in this process; returns an unsubscribe."""
    with _lock:
        _subscribers.append(callback)

    def unsubscribe() -> None:
        with _lock:
            if callback in _subscribers:
                _subscribers.remove(callback)

    return unsubscribe


def publish(event_type: str, *, user_id: int, **data) -> None:
    """Deliver the event after the current transaction commits (at once outside one)."""
    event = Event(event_type, user_id, data)
    if not settings.REDIS_URL:
        _to_outbox(event)
    transaction.on_commit(lambda: deliver(event))


def deliver(event: Event) -> None:
    """Hand `event` to this process's subscribers and, with Redis, to the channel layer.
    A failing sink is logged, never raised."""
    with _lock:
        local = list(_subscribers)
    for callback in local:
        try:
            callback(event)
        except Exception:
            logger.warning("an event subscriber failed on %s", event.type, exc_info=True)
    if settings.REDIS_URL:
        _to_channel_layer(event)


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def deployment_group(deployment_id: int) -> str:
    return f"deployment-{deployment_id}"


def _to_channel_layer(event: Event) -> None:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    try:
        layer = get_channel_layer()
        if layer is None:
            return
        message = {"type": "butler.event", "event": event.as_message()}
        if event.type != DEPLOYMENT_LOG:  # log batches only reach those who follow that log
            async_to_sync(layer.group_send)(user_group(event.user_id), message)
        if "deployment_id" in event.data:
            async_to_sync(layer.group_send)(deployment_group(event.data["deployment_id"]), message)
    except Exception:  # a dead channel layer must not break a deploy
        logger.warning("could not publish %s to the channel layer", event.type, exc_info=True)


# ---------------------------------------------------------------------------------------------
# The outbox (embedded default: no Redis)


def _to_outbox(event: Event) -> None:
    data = dict(event.data)
    if event.type == DEPLOYMENT_LOG:
        data.pop("lines", None)  # readers fetch them by their seq range
    deployment_id = data.get("deployment_id")
    try:
        with transaction.atomic():  # a savepoint: a failure leaves the caller's work intact
            OutboxEvent.objects.create(
                type=event.type,
                user_id=event.user_id,
                deployment_id=deployment_id if isinstance(deployment_id, int) else None,
                data=data,
            )
    except Exception:  # like a dead channel layer: the change itself must go through
        logger.warning("could not write %s to the event outbox", event.type, exc_info=True)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    event: Event
    deployment_id: int | None


def outbox_last_id() -> int:
    """Where a new reader starts: after every event already written."""
    return OutboxEvent.objects.aggregate(n=Max("id"))["n"] or 0


def outbox_read(*, after: int, also: Iterable[int] = (), limit: int = 500) -> list[OutboxRow]:
    """Events with an id above `after` (and those of `also`, ids a reader saw missing), in
    id order. One indexed query."""
    also = list(also)
    where = Q(id__gt=after) | Q(id__in=also) if also else Q(id__gt=after)
    rows = OutboxEvent.objects.filter(where).order_by("id")[:limit]
    return [
        OutboxRow(
            id=row.id,
            event=Event(row.type, row.user_id, row.data),
            deployment_id=row.deployment_id,
        )
        for row in rows
    ]


def outbox_prune(*, keep: timedelta = OUTBOX_KEEP) -> int:
    """Delete outbox rows older than `keep`; returns how many."""
    deleted, _ = OutboxEvent.objects.filter(created_at__lt=timezone.now() - keep).delete()
    return deleted

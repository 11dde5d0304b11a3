"""The one publisher of Butler's events, delivered after the database commit.

    events.publish("deployment.status", user_id=owner.id, deployment_id=7, status="running")

Types: `deployment.status`, `project.status`, `project.deleted`, `deployment.log` (a batch
of lines). Every event names the user it belongs to, so a consumer only ever forwards a
user's own events. `publish` inside a transaction delivers once it commits (nothing is sent
for work that rolls back); outside one, at once.

Delivery goes to every sink: in-process subscribers (`subscribe`), and with `REDIS_URL` the
Channels layer, whose groups `user-<id>` and `deployment-<id>` reach WebSocket consumers in
any web process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

DEPLOYMENT_STATUS = "deployment.status"
PROJECT_STATUS = "project.status"
PROJECT_DELETED = "project.deleted"
DEPLOYMENT_LOG = "deployment.log"


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
    transaction.on_commit(lambda: deliver(event))


def deliver(event: Event) -> None:
    """Hand `event` to every sink now. A failing sink is logged, never raised."""
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
        async_to_sync(layer.group_send)(user_group(event.user_id), message)
        if "deployment_id" in event.data:
            async_to_sync(layer.group_send)(deployment_group(event.data["deployment_id"]), message)
    except Exception:  # a dead channel layer must not break a deploy
        logger.warning("could not publish %s to the channel layer", event.type, exc_info=True)

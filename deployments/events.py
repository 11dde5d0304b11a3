"""The one helper that publishes deployment events (log lines, status changes) to browsers.

With Redis configured the events cross processes through the channel layer; without it the
WebSocket consumer reads the stored log lines, so live logs work with nothing but SQLite.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

logger = logging.getLogger(__name__)


def deployment_group(deployment_id: int) -> str:
    return f"deployment-{deployment_id}"


def publish_deployment_event(deployment_id: int, event: dict) -> None:
    """Send `event` to the deployment's WebSocket group; never fails the caller."""
    if not settings.REDIS_URL:
        return
    try:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(
                deployment_group(deployment_id), {"type": "deployment.event", "event": event}
            )
    except Exception:  # a dead channel layer must not break a deploy
        logger.warning("could not publish an event for deployment %s", deployment_id, exc_info=True)

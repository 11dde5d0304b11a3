"""Telling a worker that died from one that is busy, for a deployment it claimed.

A worker records "host:pid" when it claims a deployment and writes a heartbeat every
`BUTLER_HEARTBEAT_SECONDS`. On the same host a dead pid is certain at once; from elsewhere
six missed heartbeats are.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from deployments.models import Deployment

MISSED_BEATS = 6


def stale_after() -> timedelta:
    return timedelta(seconds=settings.BUTLER_HEARTBEAT_SECONDS * MISSED_BEATS)


def worker_gone(deployment: Deployment) -> str | None:
    """Why the worker of this running deployment is gone, or None if it may be alive."""
    host, _, pid = deployment.claimed_by.rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid)):
        return "its worker process is gone (it was killed or crashed)"
    beat = deployment.heartbeat_at or deployment.started_at or deployment.created_at
    if timezone.now() - beat > stale_after():
        return f"its worker has not been heard of for {int(stale_after().total_seconds())} s"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""The proxy seam: the only way Butler configures its front proxy (Caddy).

    from deployments.proxy import routes_push
    routes_push()            # build the whole routing table from the database, push it

The backend is the class named by `settings.BUTLER_PROXY` (default: Caddy through its admin
API), chosen like the runtime (`deployments.runtime`); the tests of logic use
`deployments.proxy.fake.FakeProxy`.

Pushes are whole tables and serialised by a lock in the data dir (web, worker and the
supervisor's sync all push): each push reads the database inside the lock, so the last push
to reach the proxy is never older than the last committed change.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from .base import Proxy, ProxyFailure, Route, RoutingTable, Serving
from .table import routing_table

__all__ = [
    "Proxy",
    "ProxyFailure",
    "Route",
    "RoutingTable",
    "Serving",
    "get_proxy",
    "reset_proxy",
    "routes_push",
    "routes_push_on_commit",
    "routing_table",
]

logger = logging.getLogger(__name__)

DEFAULT_PROXY = "deployments.proxy.caddy.CaddyProxy"
_lock = threading.Lock()
_proxies: dict[tuple[int, str], Proxy] = {}
_push_lock = threading.Lock()


def get_proxy() -> Proxy:
    """The configured backend, built once per process."""
    path = getattr(settings, "BUTLER_PROXY", "") or DEFAULT_PROXY
    key = (os.getpid(), path)
    with _lock:
        proxy = _proxies.get(key)
        if proxy is None:
            proxy = import_string(path)()
            _proxies[key] = proxy
        return proxy


def reset_proxy() -> None:
    """Forget cached backends (tests that swap `BUTLER_PROXY`)."""
    with _lock:
        _proxies.clear()


@contextlib.contextmanager
def _serialised():
    path = Path(settings.DATA_DIR) / "proxy.lock"
    with _push_lock, open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def routes_push(*, exclude_projects=(), strict: bool = False) -> bool:
    """Push the whole routing table; False (logged) when the proxy is unreachable, unless
    `strict`, which raises `ProxyFailure`. Routes are never half-applied: the proxy keeps
    its previous table until a push succeeds, and the next push carries every change."""
    try:
        with _serialised():
            table = routing_table(exclude_projects=exclude_projects)
            skipped = get_proxy().push(table)
    except ProxyFailure as exc:
        if strict:
            raise
        logger.warning("routes not pushed: %s", exc)
        return False
    if skipped:
        logger.warning("public ports held by other programs, not routed: %s", skipped)
    return True


def routes_push_on_commit() -> None:
    """Push once the current transaction commits (at once outside one)."""
    transaction.on_commit(routes_push)

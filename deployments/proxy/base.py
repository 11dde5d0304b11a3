"""The proxy seam: the routing table Butler builds from its database, the verbs every proxy
backend offers, and the one error they raise.

Nothing here talks to Caddy. The table is the whole truth: a backend is always handed every
route at once (never a diff), so a proxy that restarted empty, or missed a change, is put
right by the next push.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class ProxyFailure(Exception):
    """The proxy could not be reached or refused the configuration; the message says which."""


class Serving:
    """What a route answers with."""

    UP = "up"  # proxied to the running container
    STOPPED = "stopped"  # 503: the user stopped it
    DOWN = "down"  # 503: nothing runs (its container vanished, or is not started yet)


@dataclass(frozen=True)
class Route:
    """One project's front door: its public port and/or its names, and where they lead."""

    project_id: int
    app_name: str
    port: int | None  # public port (None for a multi-repo parent: it has names only)
    hosts: tuple[str, ...]  # <subdomain>.<BUTLER_DOMAIN> and custom domains
    upstream: str | None  # "127.0.0.1:49153" when serving
    serving: str = Serving.UP
    service: str = ""  # a compose service routed besides the main one

    @property
    def key(self) -> str:
        """Names the route's upstream for the proxy (stable across redeploys)."""
        return f"{self.project_id}-{self.service}" if self.service else str(self.project_id)


@dataclass(frozen=True)
class RoutingTable:
    routes: tuple[Route, ...] = field(default_factory=tuple)

    def by_port(self, port: int) -> Route | None:
        return next((r for r in self.routes if r.port == port), None)

    def by_host(self, host: str) -> Route | None:
        return next((r for r in self.routes if host in r.hosts), None)


@runtime_checkable
class Proxy(Protocol):
    """What Butler asks of its front proxy. `CaddyProxy` and `FakeProxy` implement it."""

    def push(self, table: RoutingTable) -> list[int]:
        """Serve exactly `table` from now on; returns the public ports that could not be
        listened on (another program holds them), which are left out. Raises ProxyFailure."""
        ...

    def is_configured(self) -> bool:
        """False when the proxy runs with no configuration (it just (re)started)."""
        ...

"""`FakeProxy`: the proxy verbs in memory, for unit tests.

fake = get_proxy()          # with BUTLER_PROXY = "deployments.proxy.fake.FakeProxy"
fake.table.by_port(8100)    # the last table pushed
fake.fail_with = ProxyFailure("down")
"""

from __future__ import annotations

from .base import ProxyFailure, RoutingTable


class FakeProxy:
    def __init__(self) -> None:
        self.table: RoutingTable | None = None
        self.pushes: list[RoutingTable] = []
        self.fail_with: ProxyFailure | None = None
        self.taken_ports: set[int] = set()  # ports "another program" listens on

    def push(self, table: RoutingTable) -> list[int]:
        if self.fail_with is not None:
            raise self.fail_with
        skipped = sorted(r.port for r in table.routes if r.port in self.taken_ports)
        self.table = table
        self.pushes.append(table)
        return skipped

    def is_configured(self) -> bool:
        return self.table is not None

    def restart(self) -> None:
        """Test helper: the proxy came back empty."""
        self.table = None

"""An app that listens on a loopback address only, from its log or its listening sockets."""

from __future__ import annotations

import ipaddress
import re

from ..ports import NON_APP_PORTS
from .base import Explanation, clean

_LISTEN_WORDS = re.compile(
    r"listen|running|started|serving|\bready\b|available|accepting|bound|local\s*(?:url)?\s*:", re.I
)
_LOOPBACK_URL = re.compile(
    r"\b(?:https?|tcp|ws)://(?P<host>127\.0\.0\.1|localhost|\[::1\]|\[::ffff:127\.0\.0\.1\])"
    r":(?P<port>\d{1,5})\b"
)
_LOOPBACK_HOSTPORT = re.compile(
    r"(?<![\w.:/\[])(?P<host>127\.0\.0\.1|\[::1\])[:.](?P<port>\d{1,5})(?!\d)"
)
_WILDCARD_HINT = re.compile(
    r"0\.0\.0\.0|\[::\]|network\s*(?:url)?\s*:\s*https?://|on all (?:interfaces|addresses)", re.I
)


def loopback_from_logs(logs: str) -> list[int]:
    """Ports an app's log says it listens on at a loopback address only ("Server listening
    at http://127.0.0.1:3000"). Lines that also name 0.0.0.0 or a network URL do not count.
    This is a hint: many apps print `localhost` and listen everywhere."""
    text = clean(logs)
    if _WILDCARD_HINT.search(text):
        return []
    ports: list[int] = []
    for line in text.splitlines():
        if not _LISTEN_WORDS.search(line):
            continue
        for pattern in (_LOOPBACK_URL, _LOOPBACK_HOSTPORT):
            for match in pattern.finditer(line):
                port = int(match.group("port"))
                if 0 < port <= 65535 and port not in NON_APP_PORTS and port not in ports:
                    ports.append(port)
    return ports


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _is_wildcard(address: str) -> bool:
    return address in ("0.0.0.0", "::")


# Docker's embedded DNS server listens there (on a random port) in every container of a
# user-defined network: it is the engine's, never the app's.
DOCKER_DNS = "127.0.0.11"


def loopback_only(sockets: list[tuple[str, int]], port: int | None) -> list[tuple[str, int]]:
    """The loopback listeners that explain why `port` does not answer from outside.

    Nothing when something listens on every address on `port`, or on another app-like port
    (a proxy in front of a local app: the port is the question then, not the address), or on
    `port` at the container's own address. Else the loopback listeners on `port`, or when
    nothing listens there at all, those on any app-like port.
    """
    sockets = [(a, p) for a, p in sockets if a != DOCKER_DNS]
    wildcard = {p for a, p in sockets if _is_wildcard(a)}
    if port in wildcard or wildcard - NON_APP_PORTS:
        return []
    loopback = [(a, p) for a, p in sockets if _is_loopback(a)]
    on_port = [(a, p) for a, p in loopback if p == port]
    if on_port:
        return on_port
    if port is not None and any(p == port for _, p in sockets):
        return []  # it listens on the port at a real address of the container
    return [(a, p) for a, p in loopback if p not in NON_APP_PORTS]


def explain_loopback(port: int, addresses: list[str], *, from_logs: bool = False) -> Explanation:
    shown = ", ".join(dict.fromkeys(addresses)) or "127.0.0.1"
    how = "its log says it listens" if from_logs else "it listens"
    cause = (
        f"The app cannot be reached: {how} on {shown} port {port} inside the container, an "
        "address only the container itself can connect to."
    )
    action = (
        f"Make it listen on 0.0.0.0 (all addresses) at port {port}, or the port in $PORT: "
        "for example `app.listen({ host: '0.0.0.0', port })` in Fastify, `--host 0.0.0.0` "
        "for uvicorn or Vite, `--bind 0.0.0.0:$PORT` for gunicorn, or a HOST=0.0.0.0 "
        "environment variable if the app reads one."
    )
    return Explanation(cause, action, extra={"port": port, "addresses": addresses})

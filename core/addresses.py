"""Where Butler may connect on a user's behalf (a Git host, a build's download): checked
after resolving, before any connection, and again with the address pinned when the work
runs, so DNS rebinding cannot swap the target in between.

Always refused: this machine (loopback, and every address of its own interfaces), the
subnets of its Docker bridges, link-local addresses (the cloud metadata service
169.254.169.254 among them), unspecified, multicast, broadcast and reserved addresses.
Refused unless listed in `BUTLER_GIT_ALLOWED_HOSTS` (host names or CIDR ranges): private
networks (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7), so a self-hosted Gitea on 10.x
(or a package mirror a build downloads from) stays possible. Encoded forms (`2130706433`, `0x7f000001`, octal) are caught because the
check is on the address the name resolves to. A refusal never depends on whether a port is
open: nothing is connected to.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ipaddress
import socket
import struct
from pathlib import Path

from django.conf import settings

BRIDGE_PREFIXES = ("docker", "br-", "butler")
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
        "fec0::/10",
    )
)
RESOLVE_TIMEOUT = 5.0
_resolver = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="git-dns")


class AddressRefused(ValueError):
    """Butler will not connect there; the message names the rule (and never a port's state)."""


class Unresolvable(AddressRefused):
    """The host name does not resolve (now)."""


def resolve(host: str, port: int, *, what: str = "Git host") -> list[str]:
    """Every address `host` resolves to (an IP literal as it is); `Unresolvable` if none."""
    host = host.strip("[]")
    future = _resolver.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=RESOLVE_TIMEOUT)
    except (socket.gaierror, UnicodeError, concurrent.futures.TimeoutError, OSError):
        raise Unresolvable(f"The {what} '{host}' could not be resolved. Check the URL.") from None
    addresses = sorted({info[4][0] for info in infos})
    if not addresses:
        raise Unresolvable(f"The {what} '{host}' could not be resolved. Check the URL.")
    return addresses


def check_addresses(
    host: str, addresses: list[str], *, what: str = "Git host", doing: str = "clone from"
) -> None:
    """`AddressRefused` naming the rule if any address `host` resolved to is refused."""
    for address in addresses:
        problem, allowable = address_problem(host, address)
        if problem:
            hint = (
                " unless it is listed in BUTLER_GIT_ALLOWED_HOSTS (for a server of yours)"
                if allowable
                else ""
            )
            raise AddressRefused(
                f"The {what} '{host}' resolves to {address}, {problem}: Butler does not "
                f"{doing} there{hint}."
            )


def address_problem(host: str, address: str) -> tuple[str | None, bool]:
    """Why `address` (what `host` resolved to) is refused, and whether the setting could
    allow it; (None, False) when it is fine."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address (this machine)", False
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services answer)", False
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved or str(ip) == "255.255.255.255":
        return "not an address a Git server can have", False
    if _is_local(ip):
        return "an address of this machine", False
    if any(ip in net for net in _bridge_networks() if net.version == ip.version):
        return "an address on this machine's Docker networks", False
    private = any(ip in net for net in PRIVATE_NETWORKS if net.version == ip.version)
    if private and not _allowed(host, ip):
        return "a private network address", True
    return None, False


def _allowed(host: str, ip) -> bool:
    for entry in getattr(settings, "BUTLER_GIT_ALLOWED_HOSTS", []):
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            if host.lower() == entry:
                return True
    return False


def _is_local(ip) -> bool:
    """Whether `ip` is one of this machine's own addresses (it can be bound to)."""
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((str(ip), 0))
        except OSError:
            return False
    return True


def _bridge_networks() -> list:
    """Subnets routed to this machine's Docker bridges (from the kernel's routing table)."""
    networks = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/route").read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) < 8 or not fields[0].startswith(BRIDGE_PREFIXES):
                continue
            destination = socket.inet_ntoa(struct.pack("<L", int(fields[1], 16)))
            mask = socket.inet_ntoa(struct.pack("<L", int(fields[7], 16)))
            with contextlib.suppress(ValueError):
                networks.append(ipaddress.ip_network(f"{destination}/{mask}", strict=False))
    return networks

"""The host firewall that keeps containers (apps, and image builds' steps) away from it.

Every Butler network's Linux bridge is named `butler…`, so two chains cover them all:
- `BUTLER-INPUT`, jumped to from INPUT for packets arriving from a `butler+` bridge: only
  replies to connections this host opened (Caddy, readiness checks) get in; anything a
  container starts towards this host is dropped, whatever address it uses (the bridge's
  gateway, docker0's 172.17.0.1, the host's own addresses) — its services stay its own.
- `BUTLER-EGRESS`, jumped to from DOCKER-USER (Docker's place for rules of its users) for
  packets leaving a `butler+` bridge: drops the ranges in `BUTLER_EGRESS_DENY` (default the
  link-local range, where cloud metadata services answer).
Traffic between two Butler networks is already dropped by Docker's own isolation rules.

Applied when the engine is on this host and Butler may change iptables (it runs as root);
`BUTLER_FIREWALL` = `auto` (apply when possible, else say so), `on` (a deploy fails when it
cannot be applied), `off`. The chains are rebuilt each time, so a change of settings takes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

from django.conf import settings

from .base import BRIDGE_PREFIX

INPUT_CHAIN = "BUTLER-INPUT"
EGRESS_CHAIN = "BUTLER-EGRESS"
RECHECK_SECONDS = 60

_lock = threading.Lock()
_checked: dict[str, float | str | None] = {"at": 0.0, "problem": None}


class FirewallUnavailable(Exception):
    pass


def ensure_firewall(*, docker_host: str | None = None) -> str | None:
    """Make sure the rules are in place; None when they are, else why they are not.

    Checked again at most once a minute per process (iptables takes a lock).
    """
    mode = settings.BUTLER_FIREWALL
    if mode == "off":
        return "the host firewall is off (BUTLER_FIREWALL=off)"
    with _lock:
        if time.monotonic() - float(_checked["at"] or 0) < RECHECK_SECONDS and _checked["at"]:
            return _checked["problem"]  # type: ignore[return-value]
        try:
            _apply(docker_host)
            problem = None
        except FirewallUnavailable as exc:
            problem = str(exc)
        _checked.update(at=time.monotonic(), problem=problem)
        return problem


def _apply(docker_host: str | None) -> None:
    host = docker_host or os.environ.get("DOCKER_HOST", "")
    if host and not host.startswith("unix://"):
        raise FirewallUnavailable(
            f"the Docker Engine is on another host ({host}): its firewall is not Butler's to set"
        )
    iptables = shutil.which("iptables")
    if iptables is None:
        raise FirewallUnavailable("iptables is not installed on this host")
    if os.geteuid() != 0:
        raise FirewallUnavailable("Butler does not run as root, so it cannot set iptables rules")
    bridges = f"{BRIDGE_PREFIX}+"
    _chain(iptables, INPUT_CHAIN, [
        ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"],
        ["-j", "DROP"],
    ])  # fmt: skip
    _jump(iptables, "INPUT", ["-i", bridges, "-j", INPUT_CHAIN])
    deny = [["-d", cidr, "-j", "DROP"] for cidr in settings.BUTLER_EGRESS_DENY]
    _chain(iptables, EGRESS_CHAIN, [*deny, ["-j", "RETURN"]])
    _jump(iptables, "DOCKER-USER", ["-i", bridges, "-j", EGRESS_CHAIN], create_parent=True)


def _run(iptables: str, *args: str, check: bool = True) -> bool:
    try:
        done = subprocess.run(
            [iptables, "-w", "5", *args], capture_output=True, text=True, timeout=15, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FirewallUnavailable(f"iptables could not run: {exc}") from exc
    if check and done.returncode != 0:
        raise FirewallUnavailable(f"iptables refused a rule: {done.stderr.strip()[:200]}")
    return done.returncode == 0


def _chain(iptables: str, chain: str, rules: list[list[str]]) -> None:
    if not _run(iptables, "-n", "-L", chain, check=False):
        _run(iptables, "-N", chain)
    _run(iptables, "-F", chain)
    for rule in rules:
        _run(iptables, "-A", chain, *rule)


def _jump(iptables: str, parent: str, rule: list[str], *, create_parent: bool = False) -> None:
    if create_parent and not _run(iptables, "-n", "-L", parent, check=False):
        _run(iptables, "-N", parent)
        _run(iptables, "-I", "FORWARD", "-j", parent)
    if not _run(iptables, "-C", parent, *rule, check=False):
        _run(iptables, "-I", parent, "1", *rule)

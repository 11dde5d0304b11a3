"""Handing out stable addresses: a public port from `BUTLER_PROXY_PORTS` and a subdomain,
given to a project at its first successful deploy and kept (redeploys, rollbacks, restarts)
until the project is deleted, which frees both with its row."""

from __future__ import annotations

import socket

from django.conf import settings
from django.db import IntegrityError, transaction

from core.errors import ApplicationError
from projects.models import Project

ATTEMPTS = 20


class NoFreePort(ApplicationError):
    status_code = 503


def port_range(spec: str | None = None) -> list[int]:
    """`8100-8999`, or a comma-separated mix of ranges and single ports."""
    ports: list[int] = []
    for part in (spec if spec is not None else settings.BUTLER_PROXY_PORTS).split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"BUTLER_PROXY_PORTS: '{part}' is not a port or a range") from None
        ports.extend(p for p in range(first, last + 1) if 0 < p < 65536)
    return ports


def _bindable(port: int) -> bool:
    """Nothing listens on the port now (another program would keep the proxy from it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))
        except OSError:
            return False
    return True


def _free_port(taken: set[int]) -> int:
    for port in port_range():
        if port not in taken and port not in (
            settings.BUTLER_HTTP_PORT,
            settings.BUTLER_HTTPS_PORT,
        ):
            if _bindable(port):
                return port
            taken.add(port)
    raise NoFreePort(
        f"Every public port in BUTLER_PROXY_PORTS ({settings.BUTLER_PROXY_PORTS}) is taken. "
        "Delete a project you no longer need, or widen the range."
    )


def _subdomain_for(project: Project) -> str:
    base = (project.app_name or "app")[:63].strip("-") or "app"
    if not Project.objects.filter(subdomain=base).exclude(id=project.id).exists():
        return base
    return f"{base[:50].rstrip('-')}-{project.id}"


def address_assign(*, project: Project) -> Project:
    """Give `project` (and a multi-repo parent of it) a subdomain, and `project` a public
    port, unless they have them. Idempotent; safe against concurrent deploys."""
    for _attempt in range(ATTEMPTS):
        try:
            with transaction.atomic():
                row = Project.objects.select_for_update().get(id=project.id)
                fields = []
                if row.public_port is None and row.project_type != "split":
                    taken = set(
                        Project.objects.exclude(public_port=None).values_list(
                            "public_port", flat=True
                        )
                    )
                    row.public_port = _free_port(taken)
                    fields.append("public_port")
                if row.subdomain is None:
                    row.subdomain = _subdomain_for(row)
                    fields.append("subdomain")
                if fields:
                    row.save(update_fields=fields)
                if row.parent_id:
                    parent = Project.objects.select_for_update().get(id=row.parent_id)
                    if parent.subdomain is None:
                        parent.subdomain = _subdomain_for(parent)
                        parent.save(update_fields=["subdomain"])
        except IntegrityError:
            continue  # another deploy took that port or name at the same moment
        project.public_port, project.subdomain = row.public_port, row.subdomain
        return project
    raise NoFreePort("Could not give the project a public port; try again.")

"""Compose stacks behind the proxy: the main service is routed like any app (published on
loopback, for Caddy); the other services publish nothing, unless the compose file names them:

    x-butler:
      expose: [adminer]

A named service keeps its ports published (on loopback) and is routed at
`<service>.<the project's hostname>`, e.g. `adminer.shop.localhost`.
"""

from __future__ import annotations

from deployments.pipeline.compose_check import ComposePlan
from deployments.pipeline.ports import parse_port_spec
from deployments.runtime.base import COMPOSE_SERVICE_LABEL

EXTENSION = "x-butler"


def _named(extension: object) -> list[str]:
    if not isinstance(extension, dict):
        return []
    value = extension.get("expose") or []
    if isinstance(value, str):
        value = [value]
    return [str(name) for name in value if isinstance(name, str | int)]


def publish_only_routed(plan: ComposePlan) -> list[str]:
    """Unpublish every service's ports but the main service's and the named ones' (they stay
    reachable inside the stack through `expose`); return the named services that publish."""
    doc = plan.rewritten
    named = _named(doc.pop(EXTENSION, None))
    routed = []
    for name, svc in doc["services"].items():
        if name == plan.main_service or not svc.get("ports"):
            continue
        if name in named:
            routed.append(str(name))
            continue
        specs = [s for s in (parse_port_spec(p) for p in svc.pop("ports")) if s is not None]
        inside = [s.container + (f"/{s.protocol}" if s.protocol else "") for s in specs]
        svc["expose"] = [*(svc.get("expose") or []), *inside]
        plan.notes.append(
            f"service '{name}': its ports are not published (only the main service is routed; "
            f"list it under {EXTENSION}.expose to route it too)"
        )
    for name in named:
        if name not in doc["services"]:
            plan.notes.append(f"{EXTENSION}.expose names '{name}', which is not a service")
    return routed


def service_ports(runtime, compose_project: str, names: list[str]) -> dict[str, int]:
    """The loopback host port of each named service's container."""
    ports = {}
    for info in runtime.compose_containers(compose_project):
        service = info.labels.get(COMPOSE_SERVICE_LABEL)
        if service in names and info.host_port:
            ports[service] = info.host_port
    return ports

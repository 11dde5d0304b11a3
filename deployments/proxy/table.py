"""The routing table, built from the database alone: which public port and which names lead
to which container. Nothing is remembered between pushes, so what Caddy serves after any
push (at start, after a change, after Caddy restarted) is what the database says."""

from __future__ import annotations

import re
from collections import defaultdict

from django.db.models import Q

from deployments.models import Deployment
from deployments.pipeline.start import ready_host
from projects import addresses
from projects.models import Domain, Project

from .base import Route, RoutingTable, Serving

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def routing_table(*, exclude_projects=()) -> RoutingTable:
    """Every addressed project's route; `exclude_projects` (ids) are left out (being deleted)."""
    excluded = {int(pk) for pk in exclude_projects}
    projects = {
        p.id: p
        for p in Project.objects.filter(
            Q(public_port__isnull=False)
            | Q(subdomain__isnull=False)
            | Q(parent__isnull=False)
            | Q(domains__isnull=False)
        )
        .exclude(id__in=excluded)
        .distinct()
    }
    running: dict[int, Deployment] = {}
    for d in Deployment.objects.filter(
        status=Deployment.Status.RUNNING, project_id__in=list(projects)
    ).order_by("id"):
        running[d.project_id] = d  # the newest wins, should two ever show running
    domains: dict[int, list[str]] = defaultdict(list)
    for project_id, domain in Domain.objects.filter(project_id__in=list(projects)).values_list(
        "project_id", "domain"
    ):
        domains[project_id].append(domain)
    frontends = {
        p.parent_id: p
        for p in projects.values()
        if p.parent_id and p.component_type == Project.Component.FRONTEND
    }
    routes = []
    for project in projects.values():
        if project.public_port is None and project.subdomain is None and not domains[project.id]:
            continue  # a component that never deployed
        target = frontends.get(project.id) if project.project_type == "split" else project
        hosts = [addresses.hostname_of(project.subdomain)] if project.subdomain else []
        hosts += sorted(domains.get(project.id, []))
        upstream, serving = _serving(target, running.get(target.id) if target else None)
        routes.append(
            Route(
                project_id=project.id,
                app_name=project.app_name,
                port=project.public_port if project.project_type != "split" else None,
                hosts=tuple(hosts),
                upstream=upstream,
                serving=serving,
            )
        )
        if project.subdomain:
            for service, port in sorted((project.service_ports or {}).items()):
                if not _LABEL.match(service):
                    continue  # not usable in a host name
                routes.append(
                    Route(
                        project_id=project.id,
                        app_name=f"{project.app_name} ({service})",
                        port=None,
                        hosts=(f"{service}.{addresses.hostname_of(project.subdomain)}",),
                        upstream=f"{ready_host()}:{port}" if serving == Serving.UP else None,
                        serving=serving,
                        service=service,
                    )
                )
    return RoutingTable(routes=tuple(sorted(routes, key=lambda r: r.project_id)))


def _serving(project: Project | None, deployment: Deployment | None) -> tuple[str | None, str]:
    if project is None or deployment is None or not deployment.host_port:
        return None, Serving.DOWN
    if project.container_state == Project.ContainerState.STOPPED:
        return None, Serving.STOPPED
    if project.container_state == Project.ContainerState.MISSING:
        return None, Serving.DOWN
    return f"{ready_host()}:{deployment.host_port}", Serving.UP

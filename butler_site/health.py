"""GET /health: the database's, the Docker Engine's and the front proxy's state, answered
even if Docker or the proxy is down."""

from __future__ import annotations

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


def _database_state() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # health reports any failure
        return {"ok": False, "error": exc.__class__.__name__}


def _docker_state() -> dict:
    from deployments.runtime import RuntimeFailure, get_runtime

    try:
        return {"ok": True, **get_runtime().ping()}
    except RuntimeFailure as exc:
        return {"ok": False, "error": str(exc)}


def _proxy_state() -> dict:
    from deployments.proxy import ProxyFailure, get_proxy

    try:
        return {"ok": True, "configured": get_proxy().is_configured()}
    except ProxyFailure as exc:
        return {"ok": False, "error": str(exc)}


class HealthApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request):
        database, docker, proxy = _database_state(), _docker_state(), _proxy_state()
        status = "healthy" if database["ok"] and docker["ok"] and proxy["ok"] else "degraded"
        return Response(
            {"status": status, "database": database, "docker": docker, "proxy": proxy},
            status=200 if database["ok"] else 503,
        )

"""JSON API for environment variables (/api/env-vars, /api/env-vars/detect).

Every view reaches the project through `project_get_for_user` (another user's project is a
404), answers with `Cache-Control: no-store` (values are secrets), and never echoes a value
in an error.
"""

from __future__ import annotations

import logging

from django.http import HttpResponse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers as drf_serializers
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core import crypto
from core.errors import ApplicationError
from envvars import selectors, services
from envvars.serializers import (
    DetectSerializer,
    ImportSerializer,
    ProjectRefSerializer,
    SaveSerializer,
    SetSerializer,
)
from projects.models import Project

logger = logging.getLogger(__name__)

PROJECT_PARAMS = [
    OpenApiParameter("project_id", int, required=True),
    OpenApiParameter("component", str, enum=["frontend", "backend"]),
]


class EnvVarsBaseApi(APIView):
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        add_never_cache_headers(response)  # includes no-store: values must not be cached
        return response

    def handle_exception(self, exc):
        if isinstance(exc, crypto.EncryptionConfigError):
            logger.error("Environment variables are unavailable: %s", exc)
            exc = ApplicationError(
                "Environment variables are unavailable: the server's encryption keys are "
                "misconfigured (an administrator must fix BUTLER_ENCRYPTION_KEYS).",
                status_code=503,
            )
        return super().handle_exception(exc)


def _payload(request, *, body: bool) -> dict:
    """Query parameters, overlaid with the body's fields for methods that have one."""
    merged = dict(request.query_params.items())
    if body:
        data = request.data
        if not isinstance(data, dict):
            raise ApplicationError("The request body must be a JSON object.")
        merged.update(data.dict() if hasattr(data, "dict") else data)
    return merged


def _target(request, *, body: bool, serializer_class=ProjectRefSerializer):
    """(the addressed project, validated data): the user's project or one of its components."""
    serializer = serializer_class(data=_payload(request, body=body))
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    project = selectors.envvars_project_for_user(
        user=request.user, project_id=data["project_id"], component=data.get("component") or None
    )
    return project, data


@sensitive_variables()
def _listing_body(project: Project, requested_id: int) -> dict:
    listing = selectors.envvars_list(project=project)
    inherited: dict[str, str] = {}
    if project.parent_id:
        parent = selectors.envvars_list(project=project.parent)
        inherited = {k: v for k, v in parent.variables.items() if k not in listing.variables}
    return {
        "project_id": requested_id,
        "component": project.component_type,
        "variables": listing.variables,
        "items": [
            {
                "key": item.key,
                "value": item.value,
                "is_build_time": item.is_build_time,
                "updated_at": item.updated_at,
            }
            for item in listing.items
        ],
        "inherited": inherited,
        "errors": listing.errors,
        "redeploy_needed": selectors.envvars_redeploy_needed(project=project),
    }


class EnvVarsApi(EnvVarsBaseApi):
    """The project's variables: read them all, or save the whole set."""

    @extend_schema(parameters=PROJECT_PARAMS, responses={200: dict})
    def get(self, request):
        project, data = _target(request, body=False)
        return Response(_listing_body(project, data["project_id"]))

    @extend_schema(request=SaveSerializer, responses={200: dict})
    @sensitive_variables()
    def post(self, request):
        project, data = _target(request, body=True, serializer_class=SaveSerializer)
        result = services.envvars_replace(project=project, variables=data["variables"])
        return Response(
            {
                "message": "Environment variables saved",
                **result,
                "redeploy_needed": selectors.envvars_redeploy_needed(project=project),
            }
        )


@sensitive_variables()
def _put_key(request, key: str) -> Response:
    project, data = _target(request, body=True, serializer_class=SetSerializer)
    row, created = services.envvar_set(
        project=project, key=key, value=data["value"], is_build_time=data.get("is_build_time")
    )
    body = {
        "message": f"Environment variable {key} saved",
        "key": key,
        "is_build_time": row.is_build_time,
        "created": created,
        "redeploy_needed": selectors.envvars_redeploy_needed(project=project),
    }
    return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def _delete_key(request, key: str) -> Response:
    project, _data = _target(request, body=False)
    services.envvar_delete(project=project, key=key)
    return Response(
        {
            "message": f"Environment variable {key} deleted",
            "key": key,
            "redeploy_needed": selectors.envvars_redeploy_needed(project=project),
        }
    )


class EnvVarKeyApi(EnvVarsBaseApi):
    """One variable: `PUT` sets it (201 when new), `DELETE` removes it (404 if unknown)."""

    @extend_schema(request=SetSerializer, responses={200: dict, 201: dict})
    def put(self, request, key: str):
        return _put_key(request, key)

    @extend_schema(parameters=PROJECT_PARAMS, responses={200: dict})
    def delete(self, request, key: str):
        return _delete_key(request, key)


class _AlsoAVariableName:
    """`PUT`/`DELETE /api/env-vars/import` (etc.) address a variable of that name."""

    key_name = ""

    @extend_schema(request=SetSerializer, responses={200: dict, 201: dict})
    def put(self, request):
        return _put_key(request, self.key_name)

    @extend_schema(parameters=PROJECT_PARAMS, responses={200: dict})
    def delete(self, request):
        return _delete_key(request, self.key_name)


class EnvVarsImportApi(_AlsoAVariableName, EnvVarsBaseApi):
    """Import a .env: multipart field `file`, or JSON `content`; `replace` removes the rest."""

    key_name = "import"
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(request=ImportSerializer, responses={200: dict})
    @sensitive_variables()
    def post(self, request):
        project, data = _target(request, body=True, serializer_class=ImportSerializer)
        content = services.dotenv_upload_read(data["file"]) if "file" in data else data["content"]
        result = services.envvars_import_dotenv(
            project=project, content=content, replace=data.get("replace", False)
        )
        count = result["imported"]
        return Response(
            {
                "message": f"Imported {count} environment variable{'' if count == 1 else 's'}",
                **result,
                "redeploy_needed": selectors.envvars_redeploy_needed(project=project),
            }
        )


class EnvVarsExportApi(_AlsoAVariableName, EnvVarsBaseApi):
    """The project's variables as a `.env` download named after the app."""

    key_name = "export"

    @extend_schema(parameters=PROJECT_PARAMS, responses={(200, "text/plain"): str})
    def get(self, request):
        project, _data = _target(request, body=False)
        response = HttpResponse(
            services.envvars_export_dotenv(project=project),
            content_type="text/plain; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{project.app_name}.env"'
        return response


class EnvVarsDetectApi(_AlsoAVariableName, EnvVarsBaseApi):
    """Suggest variables by scanning repositories: `git_url`, or `frontend_url` and/or
    `backend_url`, or a `project_id` (whose URLs are used, and whose set fills `is_set`)."""

    key_name = "detect"

    @extend_schema(
        parameters=[
            OpenApiParameter("git_url", str),
            OpenApiParameter("frontend_url", str),
            OpenApiParameter("backend_url", str),
            OpenApiParameter("project_id", int),
            OpenApiParameter("component", str, enum=["frontend", "backend"]),
        ],
        responses={200: dict},
    )
    def get(self, request):
        serializer = DetectSerializer(data=_payload(request, body=False))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = None
        if data.get("project_id") is not None:
            project = selectors.envvars_project_for_user(
                user=request.user,
                project_id=data["project_id"],
                component=data.get("component") or None,
            )
        repos = _repos_to_scan(project, data)
        return Response(services.envvars_detect(repos=repos))


def _component_project(project: Project | None, component: str | None) -> Project | None:
    """The project whose set a component's suggestions are checked against."""
    if project is None or component is None or project.component_type == component:
        return project
    return project.children.filter(component_type=component).first() or project


def _repos_to_scan(project: Project | None, data: dict) -> list[services.RepoToScan]:
    if data.get("git_url"):
        return [services.RepoToScan(None, data["git_url"], project=project)]
    given = [(c, data.get(f"{c}_url")) for c in ("frontend", "backend") if data.get(f"{c}_url")]
    if given:
        return [
            services.RepoToScan(c, url, project=_component_project(project, c)) for c, url in given
        ]
    if project is None:  # the serializer requires one of the above
        raise drf_serializers.ValidationError("Give git_url, frontend_url or project_id.")
    if project.component_type:
        return [
            services.RepoToScan(
                project.component_type, project.git_url, project.branch, project=project
            )
        ]
    split = project.split_urls
    if split is None:
        return [services.RepoToScan(None, project.git_url, project.branch, project=project)]
    repos = []
    for component, url in zip(("frontend", "backend"), split, strict=True):
        target = _component_project(project, component)
        repos.append(services.RepoToScan(component, url, project.branch, project=target))
    return repos

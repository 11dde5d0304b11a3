"""JSON API for projects (/api/import, /api/import-split, /deployments, /projects/{id}…)."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import HeaderPageNumberPagination
from projects import credentials, selectors, services
from projects.serializers import (
    GitCredentialSerializer,
    GitTokenSerializer,
    ProjectImportSerializer,
    ProjectImportSplitSerializer,
    ProjectSerializer,
    RenameSerializer,
)


class ImportApi(APIView):
    @extend_schema(request=ProjectImportSerializer, responses={201: ProjectSerializer})
    def post(self, request):
        serializer = ProjectImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        token, username = data.pop("git_token", ""), data.pop("git_username", "")
        with transaction.atomic():
            project = services.project_import(owner=request.user, **data)
            if token:
                credentials.credential_set_token(project=project, token=token, username=username)
        body = {"message": "Repository imported", "project_id": project.id}
        return Response({**body, **ProjectSerializer(project).data}, status=status.HTTP_201_CREATED)


class ImportSplitApi(APIView):
    @extend_schema(request=ProjectImportSplitSerializer, responses={201: ProjectSerializer})
    def post(self, request):
        serializer = ProjectImportSplitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        parent = services.project_import_split(owner=request.user, **serializer.validated_data)
        components = {child.component_type: child for child in parent.children.all()}
        body = {
            "message": "Multi-repository project imported",
            "project_id": parent.id,
            "frontend_id": components["frontend"].id,
            "backend_id": components["backend"].id,
            "components": ProjectSerializer(components.values(), many=True).data,
        }
        return Response({**body, **ProjectSerializer(parent).data}, status=status.HTTP_201_CREATED)


class ProjectListApi(APIView):
    """The user's projects (multi-repo parents, not their components), newest first.

    The body is a plain list, as the API's clients expect; pages are in the `Link` and
    `X-Total-Count` headers (`?page=2&page_size=50`).
    """

    @extend_schema(responses={200: ProjectSerializer(many=True)})
    def get(self, request):
        paginator = HeaderPageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.project_list_for_user(user=request.user), request, view=self
        )
        return paginator.get_paginated_response(ProjectSerializer(page, many=True).data)


class ProjectDetailApi(APIView):
    @extend_schema(responses={200: ProjectSerializer})
    def get(self, request, project_id: int):
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        return Response(ProjectSerializer(project).data)

    @extend_schema(request=RenameSerializer, responses={200: ProjectSerializer})
    def patch(self, request, project_id: int):
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        serializer = RenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = services.project_rename(project=project, **serializer.validated_data)
        return Response(ProjectSerializer(project).data)

    put = patch

    @extend_schema(responses={200: dict})
    def delete(self, request, project_id: int):
        project = selectors.project_get_for_user(
            user=request.user, project_id=project_id, include_children=False
        )
        removed = services.project_delete(project=project)
        return Response({"message": f"Project '{project.app_name}' deleted", "removed": removed})


class ProjectDestroyByNameApi(APIView):
    """`DELETE /deployments/{name}` (container name, app name or id)."""

    @extend_schema(responses={200: dict})
    def delete(self, request, name: str):
        project = selectors.project_get_by_name_for_user(user=request.user, name=name)
        removed = services.project_delete(project=project)
        return Response({"message": f"Project '{project.app_name}' deleted", "removed": removed})


class ProjectComponentsApi(APIView):
    @extend_schema(responses={200: ProjectSerializer(many=True)})
    def get(self, request, project_id: int):
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        components = selectors.project_components(project=project)
        return Response(ProjectSerializer(components, many=True).data)


def _credential_body(credential, message: str | None = None) -> dict:
    body = {
        "kind": credential.kind if credential else None,
        "username": credential.username if credential else "",
        "public_key": credential.public_key if credential else "",
        "created_at": credential.created_at if credential else None,
    }
    if message:
        body["message"] = message
    return body


class GitCredentialApi(APIView):
    """How Butler gets into the project's private repository: `GET` shows it (never the
    secret), `DELETE` forgets it."""

    @extend_schema(responses={200: GitCredentialSerializer})
    def get(self, request, project_id: int):
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        return Response(_credential_body(credentials.credential_get(project=project)))

    @extend_schema(responses={200: GitCredentialSerializer})
    def delete(self, request, project_id: int):
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        credentials.credential_delete(project=project)
        return Response(_credential_body(None, "The project's Git credential was removed."))


class GitTokenApi(APIView):
    """Keep an access token (encrypted) to clone the project's https repository with."""

    @extend_schema(request=GitTokenSerializer, responses={200: GitCredentialSerializer})
    def put(self, request, project_id: int):
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        serializer = GitTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        credential = credentials.credential_set_token(project=project, **serializer.validated_data)
        return Response(_credential_body(credential, "Access token saved (encrypted)."))

    post = put


class DeployKeyApi(APIView):
    """Generate an ssh deploy key for the project; add its public half to the repository."""

    @extend_schema(request=None, responses={201: GitCredentialSerializer})
    def post(self, request, project_id: int):
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        credential = credentials.credential_generate_deploy_key(project=project)
        message = (
            "Add this public key to the repository as a read-only deploy key, then deploy "
            "with its ssh URL (git@host:owner/repo.git)."
        )
        return Response(_credential_body(credential, message), status=status.HTTP_201_CREATED)

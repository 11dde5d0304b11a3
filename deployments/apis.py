"""JSON API for deployments: POST /deploy, status, history, logs, container actions."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import HeaderPageNumberPagination
from deployments import selectors, services
from deployments.live.runtime_logs import (
    DEFAULT_TAIL,
    MAX_TAIL,
    parse_since,
    parse_tail,
    runtime_log_read,
)
from deployments.models import Deployment
from deployments.runtime import get_runtime
from deployments.serializers import (
    DeploymentSerializer,
    DeployRequestSerializer,
    LogLineSerializer,
    ReleaseSerializer,
    RollbackRequestSerializer,
    RuntimeLogsSerializer,
)
from projects.selectors import project_get_for_user


def _deployment_body(deployment) -> dict:
    return {
        "deployment_id": deployment.id,
        "project_id": deployment.project_id,
        "component_type": deployment.project.component_type,
        "status": deployment.status,
        "status_url": f"/api/deployments/{deployment.id}",
        "logs_url": f"/api/deployments/{deployment.id}/logs",
    }


def _trigger(request) -> str:
    """`cli` for Butler's own command line (it says so in its User-Agent), else `api`."""
    agent = request.headers.get("User-Agent", "")
    return Deployment.Trigger.CLI if agent.startswith("butler-cli/") else Deployment.Trigger.API


class DeployApi(APIView):
    """Queue a deployment and answer at once (202); a worker does the work."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(request=DeployRequestSerializer, responses={202: dict})
    def post(self, request):
        serializer = DeployRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = None
        if data.get("project_id") is not None:
            project = project_get_for_user(user=request.user, project_id=data["project_id"])
        if data["deploy_type"] == "split":
            parent, deployments = services.deployment_request_split(
                user=request.user,
                frontend_url=data.get("frontend_url") or None,
                backend_url=data.get("backend_url") or None,
                project=project,
                frontend_env=data.get("frontend_env"),
                backend_env=data.get("backend_env"),
                frontend_root_dir=data.get("frontend_root_dir"),
                backend_root_dir=data.get("backend_root_dir"),
            )
            body = {
                "message": "Deployment queued: the backend first, then the frontend",
                "project_id": parent.id,
                "deployment_ids": {name: d.id for name, d in deployments.items()},
                "deployments": {name: _deployment_body(d) for name, d in deployments.items()},
                "trace_id": deployments["backend"].trace_id,
                "status": "queued",
            }
            return Response(body, status=status.HTTP_202_ACCEPTED)
        only_pair = (data.get("frontend_url") or data.get("backend_url")) and not data.get(
            "git_url"
        )
        if only_pair and project is None:
            raise ValidationError(
                {"deploy_type": ["frontend_url/backend_url need deploy_type=split."]}
            )
        target, deployment = services.deployment_request_single(
            user=request.user,
            git_url=data.get("git_url") or None,
            project=project,
            component_type=data.get("component_type") or None,
            branch=data.get("branch") if "branch" in data else None,
            env_file=data.get("env_file") or data.get("backend_env") or data.get("frontend_env"),
            strategy=data.get("strategy"),
            root_dir=data.get("root_dir"),
            trigger=_trigger(request),
        )
        body = {
            "message": "Deployment queued",
            **_deployment_body(deployment),
            "deployment_ids": [deployment.id],
            "trace_id": deployment.trace_id,
            "app_name": target.app_name,
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


class DeploymentDetailApi(APIView):
    @extend_schema(responses={200: DeploymentSerializer})
    def get(self, request, deployment_id: int):
        deployment = selectors.deployment_get_for_user(
            user=request.user, deployment_id=deployment_id
        )
        return Response(DeploymentSerializer(deployment).data)


class DeploymentLogsApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "after", int, description="Only lines with a larger seq (for paging/tailing)."
            ),
            OpenApiParameter(
                "limit", int, description="At most this many lines (default 500, max 2000)."
            ),
        ],
        responses={200: dict},
    )
    def get(self, request, deployment_id: int):
        deployment = selectors.deployment_get_for_user(
            user=request.user, deployment_id=deployment_id
        )
        try:
            after = max(0, int(request.query_params.get("after", 0)))
            limit = min(2000, max(1, int(request.query_params.get("limit", 500))))
        except ValueError:
            raise ValidationError({"detail": "after and limit must be integers."}) from None
        lines = selectors.deployment_log_lines(deployment=deployment, after=after, limit=limit)
        return Response(
            {
                "deployment_id": deployment.id,
                "status": deployment.status,
                "lines": LogLineSerializer(lines, many=True).data,
                "next_after": lines[-1].seq if lines else after,
                "has_more": len(lines) == limit,
            }
        )


class ProjectDeploymentsApi(APIView):
    @extend_schema(responses={200: DeploymentSerializer(many=True)})
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        paginator = HeaderPageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.deployment_list_for_project(project=project), request, view=self
        )
        return paginator.get_paginated_response(DeploymentSerializer(page, many=True).data)


class ProjectContainerActionApi(APIView):
    action_name = ""

    @extend_schema(request=None, responses={200: dict})
    def post(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        done = services.project_container_action(project=project, action=self.action_name)
        return Response({"message": f"{self.action_name.capitalize()} done", "containers": done})


class ProjectReleasesApi(APIView):
    """What the project's builds produced, newest first, and whether each can run again."""

    @extend_schema(responses={200: ReleaseSerializer(many=True)})
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        releases = selectors.release_list_for_project(project=project)
        context = selectors.release_context(project=project, runtime=get_runtime())
        return Response(ReleaseSerializer(releases, many=True, context=context).data)


class QueuedDeploymentSerializer(serializers.Serializer):
    deployment_id = serializers.IntegerField()
    project_id = serializers.IntegerField()
    component_type = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    status_url = serializers.CharField()
    logs_url = serializers.CharField()


class RollbackResponseSerializer(serializers.Serializer):
    message = serializers.CharField()
    project_id = serializers.IntegerField()
    deployment_id = serializers.IntegerField(help_text="the first (for a pair: the backend's)")
    deployment_ids = serializers.DictField(child=serializers.IntegerField())
    deployments = QueuedDeploymentSerializer(many=True)
    trace_id = serializers.CharField()
    status = serializers.CharField()


class ProjectRollbackApi(APIView):
    """Run an earlier release again (no build): `{deployment_id}` or `{release_id}`, or
    nothing for the release before the running one. 202: queued like any deploy."""

    @extend_schema(request=RollbackRequestSerializer, responses={202: RollbackResponseSerializer})
    def post(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        serializer = RollbackRequestSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        created = services.deployment_rollback(
            project=project,
            deployment_id=serializer.validated_data.get("deployment_id"),
            release_id=serializer.validated_data.get("release_id"),
        )
        first = created.get("backend") or next(iter(created.values()))
        releases = ", ".join(f"{d.project.app_name} v{d.release.number}" for d in created.values())
        body = {
            "message": f"Rollback queued: {releases}",
            "project_id": project.id,
            "deployment_id": first.id,
            "deployment_ids": {name: d.id for name, d in created.items()},
            "deployments": [_deployment_body(d) for d in created.values()],
            "trace_id": first.trace_id,
            "status": first.status,
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


class DeploymentCancelApi(APIView):
    """Cancel a deployment: a queued one ends at once (200), a running one is stopped by its
    worker within seconds (202, `cancel_requested`); 409 once it has ended."""

    @extend_schema(request=None, responses={200: DeploymentSerializer, 202: DeploymentSerializer})
    def post(self, request, deployment_id: int):
        deployment = selectors.deployment_get_for_user(
            user=request.user, deployment_id=deployment_id
        )
        deployment = services.deployment_cancel(deployment=deployment, by=request.user.username)
        code = status.HTTP_200_OK if deployment.is_finished else status.HTTP_202_ACCEPTED
        return Response(DeploymentSerializer(deployment).data, status=code)


class ProjectCancelApi(APIView):
    """Cancel whatever deployment of the project (or its components) is queued or running."""

    @extend_schema(request=None, responses={202: DeploymentSerializer(many=True)})
    def post(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        cancelled = services.deployment_cancel_active(project=project, by=request.user.username)
        return Response(
            DeploymentSerializer(cancelled, many=True).data, status=status.HTTP_202_ACCEPTED
        )


class ProjectRuntimeLogsApi(APIView):
    """The running container's own output (stdout and stderr), values of its variables
    masked; `ws/projects/{id}/logs/` follows it live."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "tail",
                int,
                description=f"The last n lines (default {DEFAULT_TAIL}, max {MAX_TAIL}).",
            ),
            OpenApiParameter(
                "since",
                str,
                description="Only lines since: seconds ago (300) or an ISO 8601 time.",
            ),
            OpenApiParameter(
                "component", str, description="frontend or backend, for a multi-repo project."
            ),
        ],
        responses={200: RuntimeLogsSerializer},
    )
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        params = request.query_params
        body = runtime_log_read(
            project=project,
            component=params.get("component"),
            tail=parse_tail(params.get("tail")),
            since=parse_since(params.get("since")),
        )
        return Response(RuntimeLogsSerializer(body).data)

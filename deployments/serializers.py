from __future__ import annotations

from rest_framework import serializers

from deployments.models import Deployment, LogLine
from projects.models import Project


class DeploymentSerializer(serializers.ModelSerializer):
    project_id = serializers.IntegerField(read_only=True)
    app_name = serializers.CharField(source="project.app_name", read_only=True)
    component_type = serializers.CharField(
        source="project.component_type", read_only=True, allow_null=True
    )
    message = serializers.CharField(read_only=True)

    class Meta:
        model = Deployment
        fields = [
            "id",
            "project_id",
            "app_name",
            "component_type",
            "number",
            "status",
            "message",
            "deployed_url",
            "container_name",
            "container_port",
            "host_port",
            "git_url",
            "branch",
            "commit_sha",
            "strategy",
            "image_tag",
            "generated_dockerfile",
            "phase_timings",
            "error",
            "warnings",
            "trace_id",
            "trigger",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class LogLineSerializer(serializers.ModelSerializer):
    time = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = LogLine
        fields = ["seq", "time", "stream", "text"]
        read_only_fields = fields


class DeployRequestSerializer(serializers.Serializer):
    """The seed's multipart form (JSON is accepted too)."""

    deploy_type = serializers.ChoiceField(choices=["single", "split"], default="single")
    git_url = serializers.CharField(
        max_length=2048, required=False, allow_blank=True, trim_whitespace=False
    )
    frontend_url = serializers.CharField(
        max_length=2048, required=False, allow_blank=True, trim_whitespace=False
    )
    backend_url = serializers.CharField(
        max_length=2048, required=False, allow_blank=True, trim_whitespace=False
    )
    project_id = serializers.IntegerField(required=False, allow_null=True)
    component_type = serializers.ChoiceField(
        choices=Project.Component.choices, required=False, allow_null=True, allow_blank=True
    )
    branch = serializers.CharField(max_length=255, required=False, allow_blank=True)
    frontend_env = serializers.FileField(required=False, allow_null=True)
    backend_env = serializers.FileField(required=False, allow_null=True)
    env_file = serializers.FileField(required=False, allow_null=True)

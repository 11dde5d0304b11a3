from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from deployments import queue
from deployments.models import Deployment, LogLine, Release
from projects.models import BUILD_STRATEGIES, Project


class QueuePlaceSerializer(serializers.Serializer):
    position = serializers.IntegerField(help_text="1: the next to be handed to a worker")
    waiting_for = serializers.CharField()


class DeploymentSerializer(serializers.ModelSerializer):
    project_id = serializers.IntegerField(read_only=True)
    app_name = serializers.CharField(source="project.app_name", read_only=True)
    component_type = serializers.CharField(
        source="project.component_type", read_only=True, allow_null=True
    )
    message = serializers.CharField(read_only=True)
    release_id = serializers.IntegerField(read_only=True, allow_null=True)
    release_number = serializers.SerializerMethodField()
    cancel_requested = serializers.SerializerMethodField()
    queue = serializers.SerializerMethodField()

    def get_release_number(self, obj: Deployment) -> int | None:
        return obj.release.number if obj.release_id else None

    def get_cancel_requested(self, obj: Deployment) -> bool:
        return obj.cancel_requested_at is not None

    @extend_schema_field(QueuePlaceSerializer(allow_null=True))
    def get_queue(self, obj: Deployment):
        """Where a queued deployment stands; null once it left the queue."""
        if obj.status != Deployment.Status.QUEUED or not self.context.get("with_queue", True):
            return None
        place = queue.queue_place(obj)
        return QueuePlaceSerializer(place).data if place else None

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
            "release_id",
            "release_number",
            "cancel_requested",
            "queue",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ReleaseSerializer(serializers.ModelSerializer):
    project_id = serializers.IntegerField(read_only=True)
    app_name = serializers.CharField(source="project.app_name", read_only=True)
    component_type = serializers.CharField(
        source="project.component_type", read_only=True, allow_null=True
    )
    is_current = serializers.SerializerMethodField(help_text="it is the release running now")
    can_rollback = serializers.SerializerMethodField(help_text="it can still be run again")
    rollback_unavailable = serializers.SerializerMethodField(
        help_text="why it cannot, when it cannot"
    )
    deployment_ids = serializers.SerializerMethodField(help_text="deployments that ran it")

    class Meta:
        model = Release
        fields = [
            "id",
            "number",
            "project_id",
            "app_name",
            "component_type",
            "commit_sha",
            "strategy",
            "image_tag",
            "container_port",
            "env_keys",
            "created_at",
            "is_current",
            "can_rollback",
            "rollback_unavailable",
            "deployment_ids",
        ]
        read_only_fields = fields

    def get_is_current(self, obj: Release) -> bool:
        return obj.id in self.context.get("current_ids", set())

    def get_rollback_unavailable(self, obj: Release) -> str | None:
        if obj.compose_project:
            return "compose stacks are rebuilt from source; deploy that commit again"
        if obj.image_tag not in self.context.get("present_tags", set()):
            return "its image was removed (only the newest releases keep theirs)"
        return None

    def get_can_rollback(self, obj: Release) -> bool:
        return self.get_rollback_unavailable(obj) is None and not self.get_is_current(obj)

    def get_deployment_ids(self, obj: Release) -> list[int]:
        return sorted(d.id for d in obj.deployments.all())


class RollbackRequestSerializer(serializers.Serializer):
    deployment_id = serializers.IntegerField(required=False, allow_null=True)
    release_id = serializers.IntegerField(required=False, allow_null=True)

    def validate(self, attrs):
        if attrs.get("deployment_id") is not None and attrs.get("release_id") is not None:
            raise serializers.ValidationError("Give deployment_id or release_id, not both.")
        return attrs


class LogLineSerializer(serializers.ModelSerializer):
    time = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = LogLine
        fields = ["seq", "time", "stream", "text"]
        read_only_fields = fields


class DeployRequestSerializer(serializers.Serializer):
    """`POST /deploy`'s multipart form (JSON is accepted too)."""

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
    strategy = serializers.ChoiceField(choices=BUILD_STRATEGIES, required=False)
    root_dir = serializers.CharField(max_length=255, required=False, allow_blank=True)
    frontend_root_dir = serializers.CharField(max_length=255, required=False, allow_blank=True)
    backend_root_dir = serializers.CharField(max_length=255, required=False, allow_blank=True)
    frontend_env = serializers.FileField(required=False, allow_null=True)
    backend_env = serializers.FileField(required=False, allow_null=True)
    env_file = serializers.FileField(required=False, allow_null=True)


class RuntimeLogLineSerializer(serializers.Serializer):
    time = serializers.DateTimeField(allow_null=True, help_text="when the engine read it")
    stream = serializers.ChoiceField(choices=["stdout", "stderr"])
    text = serializers.CharField(help_text="one line, without its line break; values masked")


class RuntimeLogsSerializer(serializers.Serializer):
    """`GET /api/projects/{id}/logs`: the running container's own output."""

    project_id = serializers.IntegerField()
    component = serializers.CharField(allow_null=True, help_text="frontend or backend, or null")
    container_name = serializers.CharField()
    lines = RuntimeLogLineSerializer(many=True)

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from projects import addresses
from projects.models import Project


class DomainSerializer(serializers.Serializer):
    domain = serializers.CharField()
    https = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class ProjectSerializer(serializers.ModelSerializer):
    """The project as `GET /deployments` lists it (docs/api.md)."""

    project_type = serializers.CharField(read_only=True)
    parent_project_id = serializers.IntegerField(
        source="parent_id", read_only=True, allow_null=True
    )
    public_port = serializers.SerializerMethodField()
    hostname = serializers.SerializerMethodField()
    http_url = serializers.SerializerMethodField()
    domains = serializers.SerializerMethodField()

    def get_public_port(self, project) -> int | None:
        return addresses.served_port(project)

    def get_hostname(self, project) -> str:
        return addresses.hostname_of(project.subdomain)

    def get_http_url(self, project) -> str:
        return addresses.http_url_of(addresses.hostname_of(project.subdomain))

    @extend_schema_field(DomainSerializer(many=True))
    def get_domains(self, project) -> list[dict]:
        return addresses.domains_of(project)

    class Meta:
        model = Project
        fields = [
            "id",
            "app_name",
            "container_name",
            "git_url",
            "branch",
            "status",
            "deployed_url",
            "project_type",
            "component_type",
            "parent_project_id",
            "public_port",
            "hostname",
            "http_url",
            "domains",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ProjectImportSerializer(serializers.Serializer):
    git_url = serializers.CharField(max_length=2048, trim_whitespace=False)
    app_name = serializers.CharField(max_length=63, required=False, allow_blank=True)
    branch = serializers.CharField(max_length=255, required=False, allow_blank=True)


class ProjectImportSplitSerializer(serializers.Serializer):
    frontend_url = serializers.CharField(max_length=2048, trim_whitespace=False)
    backend_url = serializers.CharField(max_length=2048, trim_whitespace=False)
    app_name = serializers.CharField(max_length=63, required=False, allow_blank=True)
    branch = serializers.CharField(max_length=255, required=False, allow_blank=True)


class RenameSerializer(serializers.Serializer):
    app_name = serializers.CharField(max_length=63)

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from projects import addresses
from projects.models import BUILD_STRATEGIES, Project


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
            "strategy",
            "root_dir",
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
    git_token = serializers.CharField(
        max_length=4096, required=False, allow_blank=True, write_only=True,
        help_text="an access token for a private https repository (kept encrypted)",
    )  # fmt: skip
    git_username = serializers.CharField(max_length=255, required=False, allow_blank=True)
    strategy = serializers.ChoiceField(choices=BUILD_STRATEGIES, default="auto")
    root_dir = serializers.CharField(
        max_length=255, required=False, allow_blank=True,
        help_text="the folder of the repository to build (a monorepo's frontend/)",
    )  # fmt: skip


class ProjectImportSplitSerializer(serializers.Serializer):
    frontend_url = serializers.CharField(max_length=2048, trim_whitespace=False)
    backend_url = serializers.CharField(max_length=2048, trim_whitespace=False)
    app_name = serializers.CharField(max_length=63, required=False, allow_blank=True)
    branch = serializers.CharField(max_length=255, required=False, allow_blank=True)
    frontend_root_dir = serializers.CharField(max_length=255, required=False, allow_blank=True)
    backend_root_dir = serializers.CharField(max_length=255, required=False, allow_blank=True)


class RenameSerializer(serializers.Serializer):
    app_name = serializers.CharField(max_length=63)


class GitCredentialSerializer(serializers.Serializer):
    """A project's way into its private repository; the secret itself is never shown."""

    kind = serializers.CharField(allow_null=True, help_text="token, ssh_key, or null for none")
    username = serializers.CharField(allow_blank=True)
    public_key = serializers.CharField(
        allow_blank=True, help_text="for ssh_key: add it to the repository as a deploy key"
    )
    created_at = serializers.DateTimeField(allow_null=True)
    message = serializers.CharField(required=False)


class GitTokenSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=4096, trim_whitespace=True)
    username = serializers.CharField(max_length=255, required=False, allow_blank=True)

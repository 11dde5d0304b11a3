"""`/api/projects/{id}/domains`: a project's addresses and its custom domains."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from deployments.proxy import services
from projects import addresses, selectors
from projects.serializers import DomainSerializer


class AddressesSerializer(serializers.Serializer):
    project_id = serializers.IntegerField()
    url = serializers.CharField(help_text="http://<BUTLER_PUBLIC_HOST>:<public port>")
    hostname = serializers.CharField(help_text="<subdomain>.<BUTLER_DOMAIN>")
    http_url = serializers.CharField(help_text="the hostname's URL on the shared port")
    domains = DomainSerializer(many=True)


class DomainInputSerializer(serializers.Serializer):
    domain = serializers.CharField(max_length=300, trim_whitespace=True)


def _answer(project, code=status.HTTP_200_OK) -> Response:
    project.refresh_from_db()
    return Response(AddressesSerializer(addresses.project_addresses(project)).data, status=code)


class DomainsApi(APIView):
    def _project(self, request, project_id):
        return selectors.project_get_for_user(user=request.user, project_id=project_id)

    @extend_schema(responses={200: AddressesSerializer})
    def get(self, request, project_id: int):
        return _answer(self._project(request, project_id))

    @extend_schema(
        request=DomainInputSerializer,
        responses={201: AddressesSerializer, 200: AddressesSerializer},
    )
    def post(self, request, project_id: int):
        project = self._project(request, project_id)
        serializer = DomainInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _domain, created = services.domain_add(
            project=project, domain=serializer.validated_data["domain"]
        )
        return _answer(project, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=DomainInputSerializer, responses={200: AddressesSerializer})
    def delete(self, request, project_id: int):
        project = self._project(request, project_id)
        serializer = DomainInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.domain_remove(project=project, domain=serializer.validated_data["domain"])
        return _answer(project)


class DomainDetailApi(APIView):
    """`DELETE /api/projects/{id}/domains/{domain}`."""

    @extend_schema(responses={200: AddressesSerializer}, operation_id="api_projects_domain_destroy")
    def delete(self, request, project_id: int, domain: str):
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        services.domain_remove(project=project, domain=domain)
        return _answer(project)

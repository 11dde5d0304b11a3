"""The API against its own OpenAPI schema, with schemathesis: every operation, generated
requests as a logged-in user; no answer is a 5xx, and every answer the schema documents has
the documented shape."""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from accounts.tokens import tokens_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

_document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(public=True)))
schema = schemathesis.openapi.from_dict(_document)
schema.app = get_wsgi_application()


@pytest.fixture
def auth(transactional_db, monkeypatch):
    from deployments import queue

    monkeypatch.setattr(queue, "_enqueue", lambda deployment_id: None)  # nothing is built
    user = UserFactory(username="fuzzer", email="fuzzer@example.com")
    return {"Authorization": f"Bearer {tokens_for(user).access_token}"}


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_never_fails_and_answers_as_documented(case, auth):
    case.call_and_validate(headers=auth, checks=[not_a_server_error, response_schema_conformance])

"""Shared fixtures: personas (alice owns things, bob must be refused) and API clients."""

import shutil

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.tokens import tokens_for
from tests.factories import UserFactory

pytest_plugins = ["tests.docker_fixtures", "tests.redis_fixtures"]

PASSWORD = "correct-horse-battery"


def pytest_sessionfinish(session, exitstatus):
    # The test settings made a throwaway data dir; leave nothing behind.
    if "butler-test-" in str(settings.DATA_DIR):
        shutil.rmtree(settings.DATA_DIR, ignore_errors=True)


def _client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(user).access_token}")
    return client


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", email="alice@example.com")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob", email="bob@example.com")


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def alice_client(alice):
    return _client_for(alice)


@pytest.fixture
def bob_client(bob):
    return _client_for(bob)

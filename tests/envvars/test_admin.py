"""The admin lists and edits variables without ever showing a value."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from envvars import selectors
from envvars.models import EnvironmentVariable
from envvars.services import envvar_set
from projects.models import Project
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SECRET = "sk_live_unique_admin_marker"


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def row(project):
    variable, _ = envvar_set(project=project, key="STRIPE_KEY", value=SECRET)
    return variable


def test_the_list_shows_a_masked_value_with_its_length(admin_client, row):
    page = admin_client.get("/admin/envvars/environmentvariable/").content.decode()
    assert "STRIPE_KEY" in page and "shop" in page
    assert f"•••••• ({len(SECRET)} characters)" in page
    assert SECRET not in page


def test_search_by_key_and_app_name_and_filter_by_build_time(admin_client, row, other_project):
    envvar_set(project=other_project, key="OTHER_KEY", value="x", is_build_time=True)
    url = "/admin/envvars/environmentvariable/"
    assert "OTHER_KEY" not in admin_client.get(url, {"q": "STRIPE"}).content.decode()
    assert "STRIPE_KEY" in admin_client.get(url, {"q": "shop"}).content.decode()
    build_time = admin_client.get(url, {"is_build_time__exact": "1"}).content.decode()
    assert "OTHER_KEY" in build_time and "STRIPE_KEY" not in build_time


def test_the_change_form_never_shows_the_value_but_can_replace_it(admin_client, row, project):
    Project.objects.filter(id=project.id).update(env_applied_at=timezone.now() - timedelta(1))
    url = f"/admin/envvars/environmentvariable/{row.id}/change/"
    page = admin_client.get(url).content.decode()
    assert SECRET not in page and row.value_encrypted not in page
    assert "The current value is never shown" in page

    response = admin_client.post(url, {"new_value": "sk_live_new", "is_build_time": "on"})
    assert response.status_code == 302
    assert selectors.envvars_list(project=project).variables == {"STRIPE_KEY": "sk_live_new"}
    project.refresh_from_db()
    assert project.redeploy_needed
    assert EnvironmentVariable.objects.get(id=row.id).is_build_time


def test_leaving_the_value_blank_keeps_it(admin_client, row, project):
    url = f"/admin/envvars/environmentvariable/{row.id}/change/"
    assert admin_client.post(url, {"new_value": ""}).status_code == 302
    assert selectors.envvars_list(project=project).variables == {"STRIPE_KEY": SECRET}


def test_adding_validates_and_encrypts(admin_client, project):
    url = "/admin/envvars/environmentvariable/add/"
    bad = admin_client.post(url, {"project": project.id, "key": "1BAD", "new_value": "x"})
    assert bad.status_code == 200 and "Invalid key" in bad.content.decode()
    ok = admin_client.post(url, {"project": project.id, "key": "NEW", "new_value": "v"})
    assert ok.status_code == 302
    assert selectors.envvars_list(project=project).variables == {"NEW": "v"}
    assert EnvironmentVariable.objects.get(key="NEW").value_encrypted.startswith("gAAAA")  # Fernet

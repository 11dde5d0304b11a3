"""Values are encrypted at rest, keys rotate, and a bad key is a clear configuration error."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from core import crypto
from envvars import selectors
from envvars.checks import encryption_keys_check
from envvars.models import EnvironmentVariable
from envvars.services import envvar_set, envvars_for_deploy, envvars_replace
from tests.envvars.conftest import KEY_A, KEY_B, KEY_C
from tests.factories import EnvironmentVariableFactory, ProjectFactory
from tests.test_site import run_manage

SECRET = "pg-pass-Zq8!unique-plaintext-marker"


def raw_tokens() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT value_encrypted FROM envvars_environmentvariable")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_a_value_never_reaches_the_database_file_in_plain_text(project):
    envvars_replace(project=project, variables={"DATABASE_PASSWORD": SECRET})

    assert all(SECRET not in token for token in raw_tokens())
    db_file = Path(connection.settings_dict["NAME"])
    connection.close()  # flush what SQLite holds
    on_disk = b"".join(
        p.read_bytes() for p in db_file.parent.glob(db_file.name + "*") if p.is_file()
    )
    assert b"DATABASE_PASSWORD" in on_disk  # the row really is in these files...
    assert SECRET.encode() not in on_disk  # ...but its value is not
    assert selectors.envvars_list(project=project).variables == {"DATABASE_PASSWORD": SECRET}


@pytest.mark.django_db
def test_the_stored_token_opens_only_with_the_configured_key(settings, project):
    settings.BUTLER_ENCRYPTION_KEYS = [KEY_A]
    envvar_set(project=project, key="API_KEY", value=SECRET)
    (token,) = raw_tokens()
    assert Fernet(KEY_A.encode()).decrypt(token.encode()).decode() == SECRET


@pytest.mark.django_db
def test_keys_rotate_and_reencrypt_moves_values_to_the_newest_key(settings, project, capsys):
    settings.BUTLER_ENCRYPTION_KEYS = [KEY_A]
    envvars_replace(project=project, variables={"API_KEY": SECRET, "EMPTY": ""})
    updated_at = EnvironmentVariable.objects.get(key="API_KEY").updated_at

    settings.BUTLER_ENCRYPTION_KEYS = [KEY_B, KEY_A]  # new key first, old one still there
    assert selectors.envvars_list(project=project).variables == {"API_KEY": SECRET, "EMPTY": ""}

    call_command("envvars_reencrypt")
    assert "Re-encrypted 2 value(s)" in capsys.readouterr().out
    for token in raw_tokens():
        Fernet(KEY_B.encode()).decrypt(token.encode())  # now under B
    assert EnvironmentVariable.objects.get(key="API_KEY").updated_at == updated_at

    settings.BUTLER_ENCRYPTION_KEYS = [KEY_B]  # the old key can go
    assert selectors.envvars_list(project=project).variables == {"API_KEY": SECRET, "EMPTY": ""}
    settings.BUTLER_ENCRYPTION_KEYS = [KEY_A]  # and really is no longer needed
    assert selectors.envvars_list(project=project).errors.keys() == {"API_KEY", "EMPTY"}


@pytest.mark.django_db
def test_reencrypt_reports_rows_it_cannot_read_by_key_and_leaves_them(settings, project, capsys):
    settings.BUTLER_ENCRYPTION_KEYS = [KEY_C]
    EnvironmentVariableFactory(project=project, key="LOST", value=SECRET)
    settings.BUTLER_ENCRYPTION_KEYS = [KEY_A]
    EnvironmentVariableFactory(project=project, key="FINE", value="ok")
    before = EnvironmentVariable.objects.get(key="LOST").value_encrypted
    settings.BUTLER_ENCRYPTION_KEYS = [KEY_B, KEY_A]

    with pytest.raises(CommandError, match="1 value\\(s\\) could not be decrypted"):
        call_command("envvars_reencrypt")
    out = capsys.readouterr()
    assert "Re-encrypted 1 value(s)" in out.out
    assert f"project {project.id} (shop) LOST" in out.err
    assert SECRET not in out.out + out.err
    assert EnvironmentVariable.objects.get(key="LOST").value_encrypted == before


@pytest.mark.django_db
def test_one_unreadable_value_does_not_break_the_others_or_other_projects(
    settings, project, other_project, caplog
):
    settings.BUTLER_ENCRYPTION_KEYS = [KEY_C]
    EnvironmentVariableFactory(project=project, key="WRITTEN_UNDER_OLD_KEY", value=SECRET)
    settings.BUTLER_ENCRYPTION_KEYS = [KEY_A]
    EnvironmentVariableFactory(project=project, key="GOOD", value="1", is_build_time=True)
    EnvironmentVariableFactory(project=other_project, key="ELSEWHERE", value="2")

    with caplog.at_level(logging.WARNING):
        deploy = envvars_for_deploy(project=project)
    assert deploy.runtime == {"GOOD": "1"}
    assert deploy.build_args == {"GOOD": "1"}
    assert deploy.unreadable == ["WRITTEN_UNDER_OLD_KEY"]
    assert "WRITTEN_UNDER_OLD_KEY" in caplog.text and SECRET not in caplog.text
    assert envvars_for_deploy(project=other_project).runtime == {"ELSEWHERE": "2"}


def test_a_generated_key_is_written_once_with_mode_0600_and_reused(settings, tmp_path):
    settings.BUTLER_ENCRYPTION_KEYS = []
    settings.DATA_DIR = tmp_path
    token = crypto.encrypt("hello")
    key_file = tmp_path / "encryption_keys"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first_key = key_file.read_text()
    crypto._cache.clear()
    assert crypto.decrypt(token) == "hello"
    assert key_file.read_text() == first_key
    assert first_key.strip() != settings.SECRET_KEY


def test_a_bad_configured_key_is_a_clear_error_that_does_not_show_the_key(settings):
    settings.BUTLER_ENCRYPTION_KEYS = [KEY_A, "not-a-fernet-key-s3cr3t"]
    with pytest.raises(crypto.EncryptionConfigError) as caught:
        crypto.encrypt("x")
    message = str(caught.value)
    assert "key #2 in BUTLER_ENCRYPTION_KEYS is not a valid Fernet key" in message
    assert "not-a-fernet-key-s3cr3t" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__

    (error,) = encryption_keys_check(None)
    assert error.id == "envvars.E001" and "s3cr3t" not in error.msg


def test_startup_stops_with_the_check_message_when_a_key_is_bad(tmp_path):
    result = run_manage(["check"], tmp_path, BUTLER_ENCRYPTION_KEYS="not-a-key-s3cr3t")
    assert result.returncode != 0
    assert "envvars.E001" in result.stderr
    assert "key #1 in BUTLER_ENCRYPTION_KEYS is not a valid Fernet key" in result.stderr
    assert "s3cr3t" not in result.stdout + result.stderr


@pytest.mark.django_db
def test_the_api_answers_503_not_a_traceback_when_keys_are_bad(settings, alice_client, alice):
    project = ProjectFactory(owner=alice)
    EnvironmentVariableFactory(project=project, key="A", value="1")
    settings.BUTLER_ENCRYPTION_KEYS = ["bad-key-s3cr3t"]
    response = alice_client.get(f"/api/env-vars?project_id={project.id}")
    assert response.status_code == 503
    assert "encryption keys are misconfigured" in response.json()["detail"]
    assert "s3cr3t" not in response.content.decode()

"""Services: saving sets, single keys, what a deploy gets, and .env import/export."""

from __future__ import annotations

import io
import random
from datetime import timedelta

import pytest
from django.utils import timezone
from dotenv import dotenv_values

from core.errors import ApplicationError
from envvars import selectors
from envvars.services import (
    envvar_delete,
    envvar_set,
    envvars_export_dotenv,
    envvars_for_deploy,
    envvars_import_dotenv,
    envvars_replace,
)
from projects.models import Project
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def values(project) -> dict[str, str]:
    return selectors.envvars_list(project=project).variables


class TestReplace:
    def test_it_adds_updates_and_removes_to_match_the_set(self, project):
        envvars_replace(project=project, variables={"A": "1", "B": "2", "C": "3"})
        result = envvars_replace(project=project, variables={"A": "1", "B": "two", "D": "4"})
        assert values(project) == {"A": "1", "B": "two", "D": "4"}
        assert (result["created"], result["updated"], result["unchanged"], result["removed"]) == (
            1,
            1,
            1,
            1,
        )

    def test_empty_values_are_kept(self, project):
        envvars_replace(project=project, variables={"FROM_DETECTION": ""})
        assert values(project) == {"FROM_DETECTION": ""}

    def test_a_change_moves_env_updated_at_forward(self, project):
        applied = timezone.now() - timedelta(hours=1)
        Project.objects.filter(id=project.id).update(env_applied_at=applied)
        envvars_replace(project=project, variables={"A": "1"})
        project.refresh_from_db()
        assert project.env_updated_at > applied and project.redeploy_needed

    def test_saving_an_unchanged_set_does_not_ask_for_a_redeploy(self, project):
        envvars_replace(project=project, variables={"A": "1"})
        Project.objects.filter(id=project.id).update(env_applied_at=timezone.now())
        envvars_replace(project=project, variables={"A": "1"})
        project.refresh_from_db()
        assert not project.redeploy_needed

    def test_an_invalid_key_is_refused_naming_it_and_nothing_is_saved(self, project):
        envvars_replace(project=project, variables={"KEEP": "x"})
        with pytest.raises(ApplicationError, match="Invalid key '1BAD'") as caught:
            envvars_replace(project=project, variables={"GOOD": "1", "1BAD": "2"})
        assert caught.value.status_code == 400 and caught.value.field == "variables"
        assert values(project) == {"KEEP": "x"}

    def test_is_build_time_survives_a_replace(self, project):
        envvar_set(project=project, key="NEXT_PUBLIC_API", value="a", is_build_time=True)
        envvars_replace(project=project, variables={"NEXT_PUBLIC_API": "b"})
        assert envvars_for_deploy(project=project).build_args == {"NEXT_PUBLIC_API": "b"}


class TestValidation:
    @pytest.mark.parametrize(
        ("key", "reason"),
        [
            ("1BAD", "Invalid key '1BAD'"),
            ("WITH-DASH", "Invalid key 'WITH-DASH'"),
            ("HAS SPACE", "Invalid key 'HAS SPACE'"),
            ("", "Invalid key ''"),
            ("Ä", "Invalid key 'Ä'"),
            ("K" * 257, "longer than 256 characters"),
        ],
    )
    def test_bad_keys_are_named(self, project, key, reason):
        with pytest.raises(ApplicationError, match=reason):
            envvar_set(project=project, key=key, value="x")

    def test_the_longest_key_and_value_fit(self, project):
        envvar_set(project=project, key="K" * 256, value="v" * 32768)
        assert values(project)["K" * 256] == "v" * 32768

    @pytest.mark.parametrize(
        "value", ["v" * 32769, "€" * 10923], ids=["ascii", "multibyte-over-32768-bytes"]
    )
    def test_a_value_over_32_kb_is_refused_naming_the_key(self, project, value):
        with pytest.raises(ApplicationError, match="The value of 'BIG' is larger than 32 KB"):
            envvar_set(project=project, key="BIG", value=value)

    def test_a_null_byte_is_refused(self, project):
        with pytest.raises(ApplicationError, match="'NUL' contains a null byte"):
            envvars_replace(project=project, variables={"NUL": "a\x00b"})

    def test_the_message_never_contains_the_value(self, project):
        with pytest.raises(ApplicationError) as caught:
            envvar_set(project=project, key="SECRET", value="hunter2-" + "x" * 40000)
        assert "hunter2" not in caught.value.message


class TestSingleKey:
    def test_set_creates_then_updates(self, project):
        _row, created = envvar_set(project=project, key="A", value="1")
        _row, created_again = envvar_set(project=project, key="A", value="2", is_build_time=True)
        assert (created, created_again) == (True, False)
        assert envvars_for_deploy(project=project).build_args == {"A": "2"}

    def test_delete_removes_it_and_an_unknown_key_is_a_404(self, project):
        envvar_set(project=project, key="A", value="1")
        envvar_delete(project=project, key="A")
        assert values(project) == {}
        with pytest.raises(ApplicationError, match="no environment variable named 'A'") as caught:
            envvar_delete(project=project, key="A")
        assert caught.value.status_code == 404


class TestForDeploy:
    def test_runtime_has_every_variable_and_build_args_only_build_time_ones(self, project):
        envvar_set(project=project, key="SECRET", value="s")
        envvar_set(project=project, key="NEXT_PUBLIC_URL", value="u", is_build_time=True)
        deploy = envvars_for_deploy(project=project)
        assert deploy.runtime == {"SECRET": "s", "NEXT_PUBLIC_URL": "u"}
        assert deploy.build_args == {"NEXT_PUBLIC_URL": "u"}
        assert deploy.unreadable == []

    def test_its_repr_shows_names_never_values(self, project):
        envvar_set(project=project, key="SECRET", value="hunter2")
        shown = repr(envvars_for_deploy(project=project))
        assert "SECRET" in shown and "hunter2" not in shown

    def test_components_have_their_own_sets_over_the_parents_shared_one(self, split_project):
        frontend = split_project.children.get(component_type="frontend")
        backend = split_project.children.get(component_type="backend")
        envvars_replace(project=split_project, variables={"SHARED": "p", "API_URL": "parent"})
        envvars_replace(project=frontend, variables={"API_URL": "https://api.example.com"})
        envvars_replace(project=backend, variables={"DATABASE_URL": "postgres://db"})

        assert envvars_for_deploy(project=frontend).runtime == {
            "SHARED": "p",
            "API_URL": "https://api.example.com",
        }
        assert envvars_for_deploy(project=backend).runtime == {
            "SHARED": "p",
            "API_URL": "parent",
            "DATABASE_URL": "postgres://db",
        }

    def test_a_change_to_the_parents_set_asks_its_components_for_a_redeploy(self, split_project):
        earlier = timezone.now() - timedelta(minutes=5)
        split_project.children.update(env_applied_at=earlier)
        envvars_replace(project=split_project, variables={"SHARED": "1"})
        assert all(child.redeploy_needed for child in split_project.children.all())
        assert selectors.envvars_redeploy_needed(project=split_project)


NASTY_VALUES = [
    "",
    "plain",
    "with space",
    "  leading and trailing  ",
    " ",
    "multi\nline\nvalue",
    "windows\r\nline",
    "\n",
    "trailing newline\n",
    "single ' quote",
    "'",
    "''",
    'double " quote',
    "both ' and \"",
    "# starts like a comment",
    "value # with hash",
    "KEY=value",
    "export X=1",
    "dollar $HOME",
    "${HOME}",
    "${UNSET:-fallback}",
    "$",
    "back\\slash",
    "ends with backslash\\",
    "\\",
    "\\\\",
    "\\'",
    "\\n literal backslash-n",
    'escaped \\" dq',
    "tab\there",
    "\x1b[31mansi\x1b[0m",
    "unicode ✓ 日本語 🚀",
    "\u2028line separator",
    "=leading equals",
    "-----BEGIN KEY-----\nMIIB\n-----END KEY-----\n",
    '{"json": ["a", 1]}',
    "`backticks`",
]


def random_nasty_values(count: int, seed: int = 20261123) -> list[str]:
    """A seeded fuzz table in the spirit of hypothesis: short strings of hostile characters."""
    rng = random.Random(seed)
    alphabet = "aZ09 _-=#$'\"\\\n\r\t{}:!`é✓🚀"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24))) for _ in range(count)]


class TestDotenv:
    def test_export_round_trips_through_python_dotenv_for_nasty_values(self, project):
        table = NASTY_VALUES + random_nasty_values(300)
        variables = {f"V{i}": value for i, value in enumerate(table)}
        envvars_replace(project=project, variables=variables)
        text = envvars_export_dotenv(project=project)

        parsed = dotenv_values(stream=io.StringIO(text), interpolate=False)
        mismatched = [k for k in variables if parsed.get(k) != variables[k]]
        assert mismatched == [], [(variables[k], parsed.get(k)) for k in mismatched[:5]]
        # Without '${' in the value, python-dotenv's default (interpolating) reading agrees too.
        default_reading = dotenv_values(stream=io.StringIO(text))
        assert all(default_reading[k] == v for k, v in variables.items() if "${" not in v)

    def test_export_then_import_into_another_project_gives_the_same_set(self, project, alice):
        table = NASTY_VALUES + random_nasty_values(100, seed=7)
        variables = {f"V{i}": value for i, value in enumerate(table)}
        envvars_replace(project=project, variables=variables)
        copy = ProjectFactory(owner=alice)
        envvars_import_dotenv(project=copy, content=envvars_export_dotenv(project=project))
        assert values(copy) == variables

    def test_import_understands_quotes_export_comments_and_multiline(self, project):
        content = (
            "# a comment\n"
            "export API_URL=https://api.example.com\n"
            "QUOTED='single # not a comment'\n"
            'DOUBLE="line1\\nline2"\n'
            "MULTI='first\nsecond'\n"
            "INLINE=value # comment\n"
            "EMPTY=\n"
            "DECLARED\n"
        )
        result = envvars_import_dotenv(project=project, content=content)
        assert values(project) == {
            "API_URL": "https://api.example.com",
            "QUOTED": "single # not a comment",
            "DOUBLE": "line1\nline2",
            "MULTI": "first\nsecond",
            "INLINE": "value",
            "EMPTY": "",
            "DECLARED": "",
        }
        assert result["imported"] == 7 and result["created"] == 7

    def test_import_never_expands_the_servers_environment(self, project, monkeypatch):
        monkeypatch.setenv("BUTLER_TEST_SERVER_SECRET", "server-only")
        envvars_import_dotenv(
            project=project, content="A=${BUTLER_TEST_SERVER_SECRET}\nB=${HOME:-x}\n"
        )
        assert values(project) == {"A": "${BUTLER_TEST_SERVER_SECRET}", "B": "${HOME:-x}"}

    def test_import_merges_and_replace_removes_the_rest(self, project):
        envvars_replace(project=project, variables={"OLD": "1", "SAME": "s"})
        merged = envvars_import_dotenv(project=project, content="SAME=s\nNEW=2\n")
        assert values(project) == {"OLD": "1", "SAME": "s", "NEW": "2"}
        assert (merged["created"], merged["unchanged"], merged["removed"]) == (1, 1, 0)
        replaced = envvars_import_dotenv(project=project, content="NEW=3\n", replace=True)
        assert values(project) == {"NEW": "3"}
        assert (replaced["updated"], replaced["removed"]) == (1, 2)

    def test_import_refuses_invalid_keys_naming_them(self, project):
        with pytest.raises(ApplicationError, match="Invalid key '1BAD'"):
            envvars_import_dotenv(project=project, content="GOOD=1\n1BAD=2\n")
        assert values(project) == {}

    def test_an_unparsable_line_is_named_by_number_not_content(self, project):
        with pytest.raises(ApplicationError, match="at line 2") as caught:
            envvars_import_dotenv(project=project, content="A=1\n=hunter2\n")
        assert "hunter2" not in caught.value.message

    def test_export_names_unreadable_keys_in_a_comment(self, settings, project):
        from tests.envvars.conftest import KEY_A, KEY_C
        from tests.factories import EnvironmentVariableFactory

        settings.BUTLER_ENCRYPTION_KEYS = [KEY_C]
        EnvironmentVariableFactory(project=project, key="LOST", value="gone")
        settings.BUTLER_ENCRYPTION_KEYS = [KEY_A]
        envvar_set(project=project, key="KEPT", value="here")
        text = envvars_export_dotenv(project=project)
        assert "KEPT=here\n" in text
        assert "# LOST: could not be decrypted" in text and "gone" not in text
        assert dotenv_values(stream=io.StringIO(text), interpolate=False) == {"KEPT": "here"}


def test_an_error_report_from_inside_a_service_shows_no_value(project, monkeypatch):
    """Admin e-mails / logged 500 reports include frame locals; values must be hidden there."""
    import sys

    from django.views.debug import ExceptionReporter

    from core import crypto

    def failing_encrypt(value):
        raise RuntimeError("disk on fire")

    def token() -> str:  # built, not written, so the report's source excerpts cannot hold it
        return "-".join(["tok", "unique", "report", "marker"])

    monkeypatch.setattr(crypto, "encrypt", failing_encrypt)
    try:
        envvars_replace(project=project, variables={"API_TOKEN": token()})
    except RuntimeError:
        report = ExceptionReporter(None, *sys.exc_info()).get_traceback_html()
    assert "disk on fire" in report and "failing_encrypt" in report
    assert "Local vars" in report and token() not in report

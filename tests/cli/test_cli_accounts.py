"""Logging in and out, tokens, errors and output formats, against a real Butler."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time

import pexpect
import pytest
import requests

from butlercli.client import Client
from butlercli.config import Config
from tests.cli.conftest import PASSWORD, ROOT, Cli, api_headers

pytestmark = pytest.mark.docker


def spawn(cli: Cli, *args: str, **env) -> pexpect.spawn:
    """The CLI on a pseudo-terminal, as in a user's shell."""
    child = pexpect.spawn(
        sys.executable,
        ["-m", "butlercli", *args],
        cwd=str(ROOT),
        env={**cli.env, "TERM": "xterm-256color", **env},
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 120),
    )
    return child


def finish(child: pexpect.spawn) -> tuple[int, str]:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, child.before


def test_login_asks_for_the_password_without_echo_and_keeps_the_tokens_0600(anonymous):
    child = spawn(anonymous, "login", anonymous.base, NO_COLOR="1")
    child.expect("Username: ")
    child.sendline(anonymous.username)
    child.expect("Password: ")
    seen = child.before + child.after
    child.sendline(PASSWORD)
    code, rest = finish(child)
    transcript = seen + rest
    assert code == 0, transcript
    assert f"Logged in to {anonymous.base} as {anonymous.username}." in transcript
    assert PASSWORD not in transcript  # not echoed
    config = anonymous.config_file
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    saved = anonymous.saved()
    assert PASSWORD not in config.read_text()
    assert saved["access_token"] not in transcript and saved["refresh_token"] not in transcript
    listed = anonymous.ok("ls", "--json")
    assert listed.json() == []
    assert saved["access_token"] not in listed.out + listed.err


def test_a_wrong_password_is_one_clear_line(anonymous):
    done = anonymous("login", "-u", anonymous.username, "--password-stdin", input="wrong-one\n")
    assert done.code == 1
    assert done.err == "error: Incorrect username or password.\n"
    assert not anonymous.config_file.exists()


def test_without_a_login_every_command_says_to_log_in(anonymous):
    for args in (["ls"], ["status", "shop"], ["env", "list", "shop"], ["releases", "shop"]):
        done = anonymous(*args)
        assert done.code == 1
        assert done.err == "error: not logged in: run `butler login`\n", args


def test_an_expired_access_token_is_refreshed_and_the_new_tokens_saved(cli):
    before = cli.saved()
    config = json.loads(cli.config_file.read_text())
    config["servers"][cli.base]["expires_at"] = time.time() - 10
    cli.config_file.write_text(json.dumps(config))
    cli.ok("ls")
    after = cli.saved()
    assert after["refresh_token"] != before["refresh_token"]
    assert after["access_token"] != before["access_token"]
    assert after["expires_at"] > time.time() + 60
    assert stat.S_IMODE(cli.config_file.stat().st_mode) == 0o600
    # the used refresh token was rotated out: it is refused now
    old = requests.post(
        f"{cli.base}/api/auth/refresh", json={"refresh_token": before["refresh_token"]}, timeout=10
    )
    assert old.status_code == 401


def test_two_butlers_refreshing_the_same_login_both_go_on(cli, monkeypatch):
    """A `logs -f` and a `deploy` both find the access token expired: the second to refresh
    must use the first one's new tokens, not spend the revoked refresh token and log out."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(cli.home / ".config"))
    first, second = Client(cli.base, Config.load()), Client(cli.base, Config.load())
    assert first.refresh() is True
    assert second.refresh() is True  # it read what the first saved
    assert second.session["refresh_token"] == first.session["refresh_token"]
    assert second.request("GET", "/api/projects").status_code == 200
    cli.ok("ls")  # still logged in


def test_a_refused_access_token_is_refreshed_once_and_the_request_retried(cli):
    config = json.loads(cli.config_file.read_text())
    config["servers"][cli.base]["access_token"] = "not-a-valid-token"
    cli.config_file.write_text(json.dumps(config))
    listed = cli.ok("ls", "--json")
    assert listed.json() == []
    assert cli.saved()["access_token"] != "not-a-valid-token"


def test_a_revoked_login_says_to_log_in_again(cli):
    config = json.loads(cli.config_file.read_text())
    config["servers"][cli.base].update(access_token="bad", refresh_token="also-bad")
    cli.config_file.write_text(json.dumps(config))
    done = cli("ls")
    assert (done.code, done.err) == (1, "error: not logged in: run `butler login`\n")


def test_logout_revokes_the_refresh_token_and_forgets_it(cli):
    refresh = cli.saved()["refresh_token"]
    done = cli.ok("logout")
    assert f"Logged out of {cli.base}." in done.out
    assert cli.base not in json.loads(cli.config_file.read_text())["servers"]
    revoked = requests.post(
        f"{cli.base}/api/auth/refresh", json={"refresh_token": refresh}, timeout=10
    )
    assert revoked.status_code == 401
    assert cli("ls").err == "error: not logged in: run `butler login`\n"


def test_health_from_the_checkout_and_as_json(cli):
    shim = subprocess.run(
        [sys.executable, "butler_cli.py", "health"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=cli.env,
        timeout=60,
        check=False,
    )
    assert shim.returncode == 0, shim.stderr
    assert shim.stdout.splitlines()[0] == f"{cli.base}: healthy"
    body = cli.ok("health", "--json").json()
    assert body["status"] == "healthy"
    assert body["docker"]["ok"] is True


def test_unknown_apps_and_bad_input_are_one_line_naming_what_to_fix(cli):
    for args in (["status", "nope"], ["logs", "nope"], ["rm", "nope", "--yes"], ["open", "nope"]):
        done = cli(*args)
        assert (done.code, done.err) == (1, "error: no app named nope; `butler ls` lists yours\n")
    bad = cli("deploy", "ftp://example.com/repo.git", "--no-wait")
    assert bad.code == 1
    assert bad.err.startswith("error: git_url: The URL scheme 'ftp' is not supported.")
    assert bad.err.count("\n") == 1 and "Traceback" not in bad.err
    # an app that exists but is not deployed yet: its domain must be a valid host name
    imported = requests.post(
        f"{cli.base}/api/import",
        json={"git_url": "https://example.com/shop.git", "app_name": "shop"},
        headers=api_headers(cli),
        timeout=10,
    )
    assert imported.status_code == 201
    domain = cli("domains", "shop", "add", "not a domain!")
    assert domain.code == 1
    assert domain.err.startswith("error: domain: ")
    assert cli("domains", "shop", "frobnicate", "x.example").err.startswith(
        "error: unknown action 'frobnicate'"
    )
    nothing = cli("cancel", "shop")
    assert nothing.code == 1 and nothing.err.startswith("error: nothing to cancel: ")
    assert cli("open", "shop").err.startswith("error: shop has no URL yet")
    assert cli("env", "unset", "shop", "NOPE").err == "error: shop has no variable NOPE\n"


def test_read_commands_print_plain_json(cli):
    requests.post(
        f"{cli.base}/api/import",
        json={"git_url": "https://example.com/shop.git", "app_name": "shop"},
        headers=api_headers(cli),
        timeout=10,
    ).raise_for_status()
    cli.ok("env", "set", "shop", "GREETING=hello", "COLOUR=blue")
    outputs = {
        "ls": cli.ok("ls", "--json"),
        "status": cli.ok("status", "shop", "--json"),
        "releases": cli.ok("releases", "shop", "--json"),
        "env": cli.ok("env", "list", "shop", "--json"),
        "export": cli.ok("env", "export", "shop", "--json"),
        "domains": cli.ok("domains", "shop", "--json"),
        "health": cli.ok("health", "--json"),
    }
    for name, result in outputs.items():
        json.loads(result.out)  # nothing else on stdout
        assert "\x1b" not in result.out, name
    assert [p["app_name"] for p in outputs["ls"].json()] == ["shop"]
    assert outputs["status"].json()["project"]["app_name"] == "shop"
    assert outputs["releases"].json() == []
    assert outputs["env"].json()["variables"] == {"COLOUR": "••••••", "GREETING": "••••••"}
    assert outputs["export"].json() == {"COLOUR": "blue", "GREETING": "hello"}
    revealed = cli.ok("env", "list", "shop", "--json", "--reveal").json()
    assert revealed["variables"] == {"COLOUR": "blue", "GREETING": "hello"}
    assert outputs["domains"].json()["domains"] == []
    exported = cli.ok("env", "export", "shop").out.splitlines()
    assert [line for line in exported if not line.startswith("#")] == [
        "COLOUR=blue",
        "GREETING=hello",
    ]


def test_colour_only_on_a_terminal_and_never_with_no_color(cli):
    requests.post(
        f"{cli.base}/api/import",
        json={"git_url": "https://example.com/shop.git", "app_name": "shop"},
        headers=api_headers(cli),
        timeout=10,
    ).raise_for_status()
    for args in (["ls"], ["health"], ["status", "shop"], ["status", "nope"]):
        _code, coloured = finish(spawn(cli, *args))
        assert "\x1b[" in coloured, args  # a terminal gets colours (so the check below can fail)
        _code, plain = finish(spawn(cli, *args, NO_COLOR="1"))
        assert "\x1b" not in plain, args
        assert "shop" in plain or "healthy" in plain or "no app named" in plain
        piped = cli(*args)
        assert "\x1b" not in piped.out + piped.err, args


def test_a_token_in_the_config_goes_to_no_other_server(cli, tmp_path):
    other = Cli("http://127.0.0.1:9", cli.home)  # same config, another server
    done = other("ls")
    assert done.err == "error: not logged in: run `butler login`\n"

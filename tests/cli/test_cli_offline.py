"""The CLI without a Butler to talk to: what it says when none answers, where it keeps its
login, and that it is a client only (no Django, no Butler app imported)."""

from __future__ import annotations

import ast
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import requests

from butlercli.client import error_message
from butlercli.config import Config, config_path, server_url
from butlercli.main import is_git_url
from tests.cli.conftest import ROOT, clean_env

SERVER_PACKAGES = {
    "django",
    "rest_framework",
    "rest_framework_simplejwt",
    "channels",
    "daphne",
    "django_q",
    "docker",
    "core",
    "gitsources",
    "accounts",
    "projects",
    "envvars",
    "deployments",
    "web",
    "butler_site",
    "tests",
}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(args, home: Path, **env):
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean_env(home, env.pop("base", "http://127.0.0.1:9")), **env},
        timeout=60,
        check=False,
    )


def test_an_unreachable_server_is_one_line_naming_it(tmp_path):
    base = f"http://127.0.0.1:{_closed_port()}"
    for args in (["ls"], ["health"], ["status", "shop"], ["deploy", "https://example.com/a.git"]):
        done = _run(["-m", "butlercli", *args], tmp_path, base=base)
        if args == ["health"]:  # the only command here that needs no login
            assert done.returncode == 1
            assert done.stderr == f"error: cannot reach Butler at {base}: Connection refused\n"
        else:
            assert done.returncode == 1
            assert done.stderr == "error: not logged in: run `butler login`\n"
        assert "Traceback" not in done.stderr


def test_login_to_an_unreachable_server_says_so(tmp_path):
    base = f"http://127.0.0.1:{_closed_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "butlercli", "login", base, "-u", "me", "--password-stdin"],
        input="secret\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=clean_env(tmp_path, "http://127.0.0.1:9"),
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == f"error: cannot reach Butler at {base}: Connection refused\n"
    assert not (tmp_path / ".config" / "butler" / "config.json").exists()


def test_the_checkout_shim_runs_the_same_app(tmp_path):
    base = f"http://127.0.0.1:{_closed_port()}"
    done = _run(["butler_cli.py", "health"], tmp_path, base=base)
    assert done.returncode == 1
    assert done.stderr == f"error: cannot reach Butler at {base}: Connection refused\n"
    helped = _run(["butler_cli.py", "--help"], tmp_path)
    assert helped.returncode == 0
    for command in ("login", "deploy", "rollback", "logs", "env", "domains", "rm", "health"):
        assert command in helped.stdout


def test_the_install_puts_butler_on_the_venvs_path(tmp_path):
    if sys.prefix == sys.base_prefix:
        return  # not in a venv: nothing installed a console script (make always makes one)
    script = Path(sys.executable).parent / "butler"
    assert script.exists(), "make's install (pip install -e .) puts `butler` in the venv"
    done = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0
    assert done.stdout.startswith("butler ")


def test_usage_errors_are_one_line_without_a_traceback(tmp_path):
    done = _run(["-m", "butlercli", "deploy"], tmp_path)
    assert done.returncode == 1
    assert done.stderr == (
        "error: give a Git URL, the name of one of your apps, or --frontend and --backend\n"
    )
    done = _run(["-m", "butlercli", "deploy", "--frontend", "https://e.com/f.git"], tmp_path)
    assert "needs both --frontend URL and --backend URL" in done.stderr
    done = _run(["-m", "butlercli", "env", "set", "shop", "NOEQUALS"], tmp_path)
    assert done.returncode == 1
    assert "expected KEY=VALUE, got 'NOEQUALS'" in done.stderr
    done = _run(["-m", "butlercli", "logs", "shop", "--tail", "9999"], tmp_path)
    assert done.stderr == "error: --tail must be between 0 and 5000\n"


def test_the_config_is_0600_in_a_0700_folder_and_replaced_whole(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    config = Config()
    config.set_session("http://b.example", {"refresh_token": "r1", "access_token": "a1"})
    config.save()
    path = config_path()
    assert path == tmp_path / "cfg" / "butler" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    first_inode = path.stat().st_ino
    config.set_session("http://b.example", {"refresh_token": "r2", "access_token": "a2"})
    config.save()
    assert path.stat().st_ino != first_inode  # a new file renamed over the old one
    assert Config.load().session("http://b.example")["refresh_token"] == "r2"
    assert [p.name for p in path.parent.iterdir()] == ["config.json"]  # no temp file left


def test_the_server_comes_from_the_option_then_the_environment_then_the_login(monkeypatch):
    config = Config({"current": "http://logged.in:8000", "servers": {}})
    monkeypatch.setenv("BUTLER_URL", "http://from.env:8000/")
    assert server_url("http://from.option", config) == "http://from.option"
    assert server_url(None, config) == "http://from.env:8000"
    monkeypatch.delenv("BUTLER_URL")
    assert server_url(None, config) == "http://logged.in:8000"
    assert server_url(None, Config()) == "http://127.0.0.1:8000"


def test_a_token_goes_only_to_the_server_that_issued_it(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    config = Config()
    config.set_session("http://mine:8000", {"refresh_token": "r", "access_token": "a"})
    assert config.session("http://elsewhere:8000") is None


def test_urls_and_paths_are_told_from_app_names():
    for url in (
        "https://github.com/u/shop.git",
        "ssh://git@host/u/shop",
        "git@github.com:u/shop.git",
        "/srv/repos/shop",
        "./shop",
        "~/code/shop",
        "file:///srv/repos/shop",
    ):
        assert is_git_url(url), url
    for name in ("shop", "my-app", "42"):
        assert not is_git_url(name), name


def test_api_errors_become_one_line_naming_the_field():
    def answer(status: int, body) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response.reason = "Bad Request"
        response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return response

    same = "The URL scheme 'ftp' is not supported."
    assert error_message(answer(400, {"detail": same, "git_url": [same]})) == f"git_url: {same}"
    assert (
        error_message(answer(400, {"domain": ["Enter a valid host name."]}))
        == "domain: Enter a valid host name."
    )
    assert error_message(answer(409, {"detail": "Nothing to cancel."})) == "Nothing to cancel."
    assert (
        error_message(answer(502, b"<html>bad gateway</html>")) == "Butler answered 502 Bad Request"
    )


def test_the_cli_imports_nothing_of_the_server():
    found = []
    for path in sorted((ROOT / "butlercli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in SERVER_PACKAGES]
    assert found == []
    assert os.path.exists(ROOT / "butler_cli.py")


def test_shell_completion_comes_with_typer(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "butlercli"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={
            **clean_env(tmp_path, "http://127.0.0.1:9"),
            "_BUTLER_COMPLETE": "complete_bash",
            "COMP_WORDS": "butler env ",
            "COMP_CWORD": "2",
        },
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert {"list", "set", "unset", "import", "export", "detect"} <= set(done.stdout.split())


def test_url_is_taken_before_or_after_the_command(tmp_path):
    from butlercli.main import hoist_url

    assert hoist_url(["health", "--url", "http://b:1"]) == ["--url", "http://b:1", "health"]
    assert hoist_url(["ls", "--url=http://b:1", "--json"]) == ["--url=http://b:1", "ls", "--json"]
    assert hoist_url(["env", "set", "a", "--", "--url"]) == ["env", "set", "a", "--", "--url"]
    base = f"http://127.0.0.1:{_closed_port()}"
    for args in (["health", "--url", base], ["--url", base, "health"]):
        done = _run(["-m", "butlercli", *args], tmp_path)  # BUTLER_URL names another server
        assert done.stderr == f"error: cannot reach Butler at {base}: Connection refused\n"

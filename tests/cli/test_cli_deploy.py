"""Deploying with the CLI on the real engine: follow, env, redeploy, rollback, logs -f,
domains, rm; Ctrl-C while following; a failing build; a multi-repo pair; resuming a stream."""

from __future__ import annotations

import queue
import signal
import subprocess
import threading
import time

import pytest
import requests

from butlercli import streams
from butlercli.client import Client
from butlercli.config import Config
from tests import samples
from tests.cli.conftest import ROOT, Cli, api_headers
from tests.cli.test_cli_accounts import finish, spawn

pytestmark = pytest.mark.docker


def page(url: str) -> str:
    deadline = time.monotonic() + 20
    while True:
        try:
            return requests.get(url, timeout=5).text
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def project(cli: Cli, name: str) -> dict:
    return cli.ok("status", name, "--json").json()["project"]


def test_a_user_deploys_follows_sets_env_redeploys_rolls_back_reads_logs_and_removes(cli, tmp_path):
    repo = samples.env_page_repo(cli.repos / f"{cli.username}-page", marker="hello v1")
    env_file = tmp_path / "app.env"
    env_file.write_text("GREETING=from-the-env-file\n")

    first = cli.ok("deploy", str(repo), "--name", "page", "--env-file", str(env_file), "--follow")
    assert "Step 1/" in first.out  # the build log, streamed
    assert "-> building" in first.out and "-> running" in first.out  # the phases
    shown = project(cli, "page")
    assert f"page is running at {shown['deployed_url']}" in first.out
    assert shown["http_url"] in first.out
    assert "hello v1" in page(shown["deployed_url"])
    assert "from-the-env-file" in page(shown["deployed_url"])

    cli.ok("env", "set", "page", "GREETING=second-value")
    again = cli.ok("deploy", "page")
    assert "Step 1/" not in again.out  # without --follow: the phases only
    assert "-> running" in again.out
    assert "second-value" in page(shown["deployed_url"])
    releases = cli.ok("releases", "page", "--json").json()
    assert [r["number"] for r in releases] == [2, 1]
    table = cli.ok("releases", "page").out.splitlines()
    assert table[1].split()[:2] == ["v2", "*"] and table[1].split()[-1] == "#2"
    assert table[2].split()[0] == "v1" and table[2].split()[-1] == "#1"

    back = cli.ok("rollback", "page")
    assert "page is running" in back.out
    assert "from-the-env-file" in page(shown["deployed_url"])
    assert project(cli, "page")["deployed_url"] == shown["deployed_url"]

    # logs: the last lines, then -f shows a request as it is made, until Ctrl-C
    requests.get(shown["deployed_url"] + "/before-logs", timeout=5)
    assert "/before-logs" in cli.ok("logs", "page", "--tail", "20").out
    assert cli.ok("logs", "page", "--json").json()["lines"]
    follower = subprocess.Popen(
        cli.argv("logs", "page", "-f", "--tail", "0"),
        cwd=ROOT,
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in follower.stdout], daemon=True).start()

    def shows(path: str) -> bool:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            requests.get(shown["deployed_url"] + path, timeout=5)
            try:
                while True:
                    if path in lines.get(timeout=1):
                        return True
            except queue.Empty:
                continue
        return False

    try:
        time.sleep(1)
        assert shows("/while-following")
        # a rollback to a given deployment (the second's release) while following: the
        # output goes on with the new container
        missing = cli("rollback", "page", "99")
        assert (
            missing.err == "error: no deployment #99 of page; `butler releases page` lists them\n"
        )
        cli.ok("rollback", "page", "#2")  # the number the log and `releases` show
        assert "second-value" in page(shown["deployed_url"])
        assert shows("/after-the-switch")
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=20) == 130
        notes = follower.stderr.read()
        assert "now runs deployment #4" in notes and "Traceback" not in notes
    finally:
        follower.kill()
        follower.wait()

    assert cli.ok("open", "page", "--print").out.strip() == shown["http_url"]
    assert cli.ok("open", "page", "--json").json()["deployed_url"] == shown["deployed_url"]
    cli.ok("rollback", "page", "--release", "1")
    assert "from-the-env-file" in page(shown["deployed_url"])
    added = cli.ok("domains", "page", "add", "shop.example.com")
    assert "Added shop.example.com to page." in added.out
    listed = cli.ok("domains", "page", "--json").json()
    assert [d["domain"] for d in listed["domains"]] == ["shop.example.com"]
    cli.ok("domains", "page", "rm", "shop.example.com")
    assert cli.ok("domains", "page", "--json").json()["domains"] == []

    refused = cli("rm", "page")  # no terminal to ask on, no --yes: nothing happens
    assert refused.code == 1 and "without --yes" in refused.err
    assert [p["app_name"] for p in cli.ok("ls", "--json").json()] == ["page"]
    removed = cli.ok("rm", "page", "--yes")
    assert "Deleted page." in removed.out
    assert cli.ok("ls", "--json").json() == []
    with pytest.raises(requests.RequestException):
        requests.get(shown["deployed_url"], timeout=3).raise_for_status()


def test_rm_asks_first_on_a_terminal(cli):
    requests.post(
        f"{cli.base}/api/import",
        json={"git_url": "https://example.com/shop.git", "app_name": "shop"},
        headers=api_headers(cli),
        timeout=10,
    ).raise_for_status()
    child = spawn(cli, "rm", "shop", NO_COLOR="1")
    child.expect(r"Delete shop .*\? \[y/N\]: ")
    child.sendline("")
    code, _ = finish(child)
    assert code == 1
    assert [p["app_name"] for p in cli.ok("ls", "--json").json()] == ["shop"]
    child = spawn(cli, "rm", "shop", NO_COLOR="1")
    child.expect(r"\[y/N\]: ")
    child.sendline("y")
    code, rest = finish(child)
    assert code == 0 and "Deleted shop." in rest
    assert cli.ok("ls", "--json").json() == []


def test_ctrl_c_while_following_asks_and_cancels_on_yes(cli):
    repo = samples.slow_build_repo(cli.repos / f"{cli.username}-slow", seconds=60)
    child = spawn(cli, "deploy", str(repo), "--name", "slow", "--follow")
    child.expect("sleeping", timeout=120)
    child.sendintr()  # Ctrl-C on the terminal: SIGINT to the foreground process
    child.expect(r"Cancel the deployment\? \[y/N\]: ")
    child.sendline("n")  # no: it goes on following
    time.sleep(1)
    assert project(cli, "slow")["status"] == "deploying"
    child.sendintr()
    child.expect(r"Cancel the deployment\? \[y/N\]: ")
    child.sendline("y")
    code, rest = finish(child)
    assert code == 1
    assert "deployment #1 of slow was cancelled" in rest
    deployments = cli.ok("status", "slow", "--json").json()["deployments"]
    assert deployments[0]["status"] == "cancelled"


def test_cancel_stops_a_deployment_in_progress(cli):
    repo = samples.slow_build_repo(cli.repos / f"{cli.username}-slow", seconds=60)
    queued = cli.ok("deploy", str(repo), "--name", "slow", "--no-wait")
    assert queued.out.startswith("Queued deployment ")
    deadline = time.monotonic() + 60
    while cli.ok("status", "slow", "--json").json()["deployments"][0]["status"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    done = cli.ok("cancel", "slow")
    assert "Deployment #1 of slow" in done.out
    deadline = time.monotonic() + 60
    while cli.ok("status", "slow", "--json").json()["deployments"][0]["status"] != "cancelled":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    again = cli("cancel", "slow")
    assert again.code == 1 and again.err.startswith("error: nothing to cancel: ")


def test_a_failed_build_exits_non_zero_with_its_error(cli):
    repo = samples.broken_build_repo(cli.repos / f"{cli.username}-broken")
    done = cli("deploy", str(repo), "--name", "broken")
    assert done.code == 1
    last = done.err.strip().splitlines()[-1]
    assert last.startswith("error: deployment #1 of broken failed: ")
    assert "compiling assets" in done.err  # the build's last lines, to see why
    assert cli.ok("status", "broken", "--json").json()["deployments"][0]["status"] == "failed"
    # the same repository again, without --name: the same app, deployed again
    again = cli("deploy", str(repo))
    assert "Deploying broken again" in again.err
    assert again.err.strip().splitlines()[-1].startswith("error: deployment #2 of broken failed")
    assert [p["app_name"] for p in cli.ok("ls", "--json").json()] == ["broken"]


def test_a_multi_repo_pair_deploys_backend_first_with_both_logs(cli):
    front = samples.static_repo(cli.repos / f"{cli.username}-front", marker="the front page")
    back = samples.env_page_repo(cli.repos / f"{cli.username}-back", marker="the back end")
    done = cli.ok(
        "deploy", "--frontend", str(front), "--backend", str(back), "--name", "pair", "-f"
    )
    assert "backend | " in done.out and "frontend | " in done.out
    assert done.out.index("backend | ") < done.out.index("frontend | ")
    assert "pair is running" in done.out
    shown = project(cli, "pair")
    assert "the front page" in page(shown["deployed_url"])
    missing = cli("logs", "pair")
    assert missing.err == "error: pair is a multi-repo app: add --component frontend or backend\n"
    cli.ok("logs", "pair", "--component", "backend")
    cli.ok("rm", "pair", "--yes")


def test_env_set_reads_a_secret_from_stdin_not_argv(cli):
    requests.post(
        f"{cli.base}/api/import",
        json={"git_url": "https://example.com/shop.git", "app_name": "shop"},
        headers=api_headers(cli),
        timeout=10,
    ).raise_for_status()
    secret = "s3cr3t-value-from-stdin"
    argv = cli.argv("env", "set", "shop", "API_KEY", "--stdin")
    assert secret not in " ".join(argv)
    process = subprocess.Popen(
        argv, cwd=ROOT, env=cli.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    time.sleep(0.5)
    with open(f"/proc/{process.pid}/cmdline", "rb") as cmdline:  # what `ps` shows
        assert secret.encode() not in cmdline.read()
    out, _ = process.communicate(secret + "\n", timeout=60)
    assert process.returncode == 0 and secret not in out
    variables = cli.ok("env", "list", "shop", "--json", "--reveal").json()["variables"]
    assert variables == {"API_KEY": secret}
    # on a terminal the value is asked for without echo
    child = spawn(cli, "env", "set", "shop", "OTHER_KEY", "--stdin", NO_COLOR="1")
    child.expect("Value of OTHER_KEY: ")
    child.sendline("typed-secret")
    code, rest = finish(child)
    assert code == 0 and "typed-secret" not in rest
    cli.ok("env", "unset", "shop", "OTHER_KEY")
    cli.ok("env", "import", "shop", "-", input="FROM_FILE=1\n")
    keys = cli.ok("env", "list", "shop", "--json").json()["variables"]
    assert sorted(keys) == ["API_KEY", "FROM_FILE"]


def test_env_detect_lists_what_the_code_reads(cli):
    repo = samples.env_page_repo(cli.repos / f"{cli.username}-detect", marker="x", var="SHOP_KEY")
    body = cli.ok("env", "detect", str(repo), "--json").json()
    assert "SHOP_KEY" in body["suggestions"]
    assert "SHOP_KEY" in cli.ok("env", "detect", str(repo)).out


def test_a_dropped_log_stream_resumes_after_the_last_line_without_duplicates(cli, monkeypatch):
    repo = samples.static_repo(cli.repos / f"{cli.username}-site")
    done = cli.ok("deploy", str(repo), "--name", "site", "--json")
    deployment = done.json()["deployments"][0]
    assert deployment["status"] == "running"

    real_messages = streams._messages
    drops = {"left": 3}

    def flaky(client, path, params):
        """The real stream, cut (three times) after the first two lines it sends."""
        for message in real_messages(client, path, params):
            lines = message.get("lines") or []
            if drops["left"] and message.get("type") == "log" and len(lines) > 2:
                drops["left"] -= 1
                yield {**message, "lines": lines[:2]}
                raise streams._Closed(1006, "dropped")
            yield message

    monkeypatch.setattr(streams, "_messages", flaky)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(cli.home / ".config"))
    seqs: list[int] = []
    stream = streams.DeploymentStream(
        Client(cli.base, Config.load()),
        deployment["id"],
        on_lines=lambda lines: seqs.extend(line["seq"] for line in lines),
        on_status=lambda status: None,
        on_skipped=lambda count: None,
    )
    stream.follow()
    assert drops["left"] == 0  # it was cut, and reconnected each time
    stored = requests.get(
        f"{cli.base}/api/deployments/{deployment['id']}/logs",
        params={"limit": 1000},
        headers=api_headers(cli),
        timeout=10,
    ).json()
    assert len(seqs) > 8
    assert seqs == [line["seq"] for line in stored["lines"]]  # every line once, in order
    assert stream.status == "running"

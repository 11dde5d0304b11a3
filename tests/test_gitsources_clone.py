"""Cloning: shallow, branch selection, clear failures, and the safety limits around git."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path

import git
import pytest

from gitsources import CloneResult, GitCredential, GitError, clone, sanitize
from tests.samples import git_repo

AUTHOR = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


def run_git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *AUTHOR, *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def make_repo(path: Path, files: dict[str, str | bytes], *, branch: str = "main") -> Path:
    return git_repo(path, files, branch=branch)


def commit_files(repo: Path, files: dict[str, str | bytes], message: str) -> None:
    git_repo(repo, files, message=message)


def make_executable(path: Path, script: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def root(tmp_path, settings) -> Path:
    """A folder listed in BUTLER_LOCAL_GIT_ROOTS, where the tests' repositories live."""
    path = (tmp_path / "repos").resolve()
    path.mkdir()
    settings.BUTLER_LOCAL_GIT_ROOTS = [str(path)]
    return path


@pytest.fixture
def dest(tmp_path) -> Path:
    return tmp_path / "work" / "clone"


@pytest.fixture
def no_proxy(monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


# ---- what a successful clone gives ----


def test_it_clones_shallowly_and_records_commit_tree_and_branch(root, dest):
    repo = make_repo(root / "app", {"app.py": "print('v1')\n"})
    commit_files(repo, {"app.py": "print('v2')\n"}, "second")
    run_git("tag", "v2", cwd=repo)
    lines: list[str] = []

    result = clone(url=str(repo), dest=dest, on_output=lines.append)

    assert result == CloneResult(
        commit_sha=run_git("rev-parse", "HEAD", cwd=repo),
        tree_sha=run_git("rev-parse", "HEAD^{tree}", cwd=repo),
        branch="main",
        size_bytes=result.size_bytes,
    )
    assert result.size_bytes > 0
    assert (dest / "app.py").read_text() == "print('v2')\n"
    assert run_git("rev-list", "--count", "HEAD", cwd=dest) == "1"  # shallow
    assert run_git("tag", cwd=dest) == ""  # --no-tags
    assert any("Cloning into" in line for line in lines)


def test_a_file_url_inside_the_allowed_root_works(root, dest):
    repo = make_repo(root / "app", {"index.html": "<h1>hi</h1>"})
    result = clone(url=repo.as_uri(), dest=dest)
    assert result.commit_sha == run_git("rev-parse", "HEAD", cwd=repo)


def test_it_clones_the_requested_branch(root, dest):
    repo = make_repo(root / "app", {"app.py": "main\n"})
    run_git("checkout", "-q", "-b", "feature/x", cwd=repo)
    commit_files(repo, {"app.py": "feature\n"}, "on feature")
    feature_sha = run_git("rev-parse", "HEAD", cwd=repo)
    run_git("checkout", "-q", "main", cwd=repo)

    result = clone(url=str(repo), dest=dest, branch="feature/x")

    assert result.branch == "feature/x"
    assert result.commit_sha == feature_sha
    assert (dest / "app.py").read_text() == "feature\n"


def test_the_default_branch_is_whatever_the_remote_has(root, dest):
    repo = make_repo(root / "app", {"a": "1"}, branch="trunk")
    assert clone(url=str(repo), dest=dest).branch == "trunk"


# ---- failures a user sees ----


def test_a_missing_branch_is_named(root, dest):
    repo = make_repo(root / "app", {"a": "1"})
    with pytest.raises(GitError, match=rf"^Branch 'nope' not found in {repo}$"):
        clone(url=str(repo), dest=dest, branch="nope")
    assert not dest.exists()


def test_a_folder_that_is_not_a_repository_is_reported(root, dest):
    (root / "empty").mkdir()
    with pytest.raises(GitError) as exc_info:
        clone(url=str(root / "empty"), dest=dest)
    message = str(exc_info.value)
    assert message.startswith(f"Repository not found or not reachable: {root / 'empty'} (")
    assert "not appear to be a git repository" in message
    assert not dest.exists()


@pytest.fixture
def loopback_servers(monkeypatch):
    """These tests run git against servers on this machine, which clones refuse: let them."""
    import gitsources.cloning

    monkeypatch.setattr(gitsources.cloning, "check_addresses", lambda host, addresses: None)


def test_an_unreachable_host_is_reported(dest, no_proxy, loopback_servers):
    with socket.socket() as sock:  # a port that is certainly closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"https://127.0.0.1:{port}/owner/repo.git"
    with pytest.raises(GitError) as refused:
        clone(url=url, dest=dest, timeout=30)
    # The same words whatever the reason (closed, filtered, no such host): no port scanning.
    assert str(refused.value) == (
        f"Repository not found or not reachable: {url} (could not connect to the Git server)"
    )
    assert not dest.exists()


def test_a_loopback_host_is_refused_before_any_connection(dest, no_git_process):
    with pytest.raises(GitError, match="loopback"):
        clone(url="https://127.0.0.1:9/owner/repo.git", dest=dest)


def test_the_address_is_checked_again_when_the_clone_runs(dest, monkeypatch, no_git_process):
    """DNS rebinding: the name the API accepted resolves elsewhere by the time git runs."""
    import gitsources.cloning

    monkeypatch.setattr(gitsources.cloning, "resolve", lambda host, port: ["127.0.0.1"])
    with pytest.raises(GitError, match=r"resolves to 127\.0\.0\.1, a loopback address"):
        clone(url="https://git.example.com/owner/repo.git", dest=dest)


def test_git_connects_to_the_address_that_was_checked(dest, monkeypatch):
    import gitsources.cloning

    seen = {}
    monkeypatch.setattr(gitsources.cloning, "resolve", lambda host, port: ["203.0.113.7"])
    monkeypatch.setattr(
        gitsources.cloning, "_run_clone", lambda cmd, **kw: seen.setdefault("cmd", cmd)
    )
    with pytest.raises(GitError):  # nothing was cloned: reading the result fails
        clone(url="https://git.example.com/owner/repo.git", dest=dest)
    assert "http.curloptResolve=git.example.com:443:203.0.113.7" in seen["cmd"]


def test_an_empty_repository_is_reported(root, dest):
    repo = root / "empty-repo"
    repo.mkdir()
    run_git("init", "-q", "-b", "main", cwd=repo)
    with pytest.raises(GitError, match="is empty"):
        clone(url=str(repo), dest=dest)
    assert not dest.exists()


def test_an_existing_destination_is_refused_and_kept(root, dest):
    repo = make_repo(root / "app", {"a": "1"})
    dest.mkdir(parents=True)
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(GitError, match="already exists"):
        clone(url=str(repo), dest=dest)
    assert (dest / "keep.txt").read_text() == "mine"


# ---- what never reaches git ----


@pytest.fixture
def no_git_process(monkeypatch):
    """Fail the test if anything tries to start a process (git or otherwise)."""

    def refuse(*args, **kwargs):
        pytest.fail(f"a process was started: {args!r}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(git.cmd.Git, "execute", refuse)


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c touch /tmp/pwned",
        "ext::sh",
        "-uhttps://x",
        "--upload-pack=touch /tmp/pwned",
        "file:///etc",
        "/etc",
        "http://example.com/owner/repo.git",
    ],
)
def test_a_refused_url_starts_no_git_process(url, root, dest, no_git_process):
    with pytest.raises(GitError):
        clone(url=url, dest=dest)
    assert not dest.exists()


@pytest.mark.parametrize("branch", ["--upload-pack=touch /tmp/x", "a..b", "x y", "-b"])
def test_an_invalid_branch_name_starts_no_git_process(branch, root, dest, no_git_process):
    repo_url = str(root)  # any allowed path; the branch is checked first
    with pytest.raises(GitError, match="not a valid branch name"):
        clone(url=repo_url, dest=dest, branch=branch)


def test_hooks_never_run(root, dest, tmp_path, monkeypatch):
    marker = tmp_path / "hook-ran"
    hook = f"#!/bin/sh\ntouch {marker}\n"
    repo = make_repo(root / "app", {"a": "1"})
    make_executable(repo / ".git" / "hooks" / "post-checkout", hook)
    # Two ways a hook could reach a clone from Butler's own environment.
    template = tmp_path / "template"
    make_executable(template / "hooks" / "post-checkout", hook)
    monkeypatch.setenv("GIT_TEMPLATE_DIR", str(template))
    hooks_dir = tmp_path / "hooks"
    make_executable(hooks_dir / "post-checkout", hook)
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", f"'core.hookspath'='{hooks_dir}'")

    # Control: a plain clone in this environment does run the hook.
    subprocess.run(["git", "clone", "-q", str(repo), str(tmp_path / "plain")], check=True)
    assert marker.exists()
    marker.unlink()

    clone(url=str(repo), dest=dest)
    assert (dest / "a").exists()
    assert not marker.exists()


def test_git_gets_a_clean_environment_and_errors_hide_credentials(
    tmp_path, dest, monkeypatch, loopback_servers
):
    dump = tmp_path / "ssh-env.txt"
    bin_dir = tmp_path / "bin"
    make_executable(
        bin_dir / "ssh",
        f'#!/bin/sh\nenv > {dump}\necho "ssh: connect to host 127.0.0.1 refused" >&2\nexit 255\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SECRET_KEY", "butler-secret-key-value")
    monkeypatch.setenv("DATABASE_URL", "postgres://butler:dbpass@db/butler")
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    lines: list[str] = []

    with pytest.raises(GitError) as exc_info:
        clone(
            url="ssh://deploy@127.0.0.1/owner/repo.git",
            dest=dest,
            on_output=lines.append,
            credential=GitCredential(kind="token", secret="hunter2-token", username="deploy"),
        )

    message = str(exc_info.value)
    assert message == (
        "Repository not found or not reachable: ssh://127.0.0.1/owner/repo.git "
        "(could not connect to the Git server)"
    )
    assert "hunter2" not in message + "\n".join(lines)
    env = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert "SECRET_KEY" not in env
    assert "DATABASE_URL" not in env
    assert "GIT_DIR" not in env
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert env["GIT_CONFIG_GLOBAL"] == "/dev/null"
    assert env["GIT_ALLOW_PROTOCOL"] == "https:ssh"
    assert env["HOME"] != os.environ.get("HOME")
    assert not Path(env["HOME"]).exists()  # the throwaway HOME is gone
    assert not dest.exists()


def test_sanitize_strips_credentials_from_urls():
    text = "fatal: unable to access 'https://user:tok3n@host/r.git/' and ssh://me@h/x"
    assert sanitize(text) == "fatal: unable to access 'https://host/r.git/' and ssh://h/x"


# ---- limits ----


def test_a_repository_over_the_size_limit_is_stopped(root, dest, settings):
    repo = make_repo(root / "big", {"blob.bin": os.urandom(3 * 1024 * 1024)})
    settings.BUTLER_CLONE_MAX_MB = 1
    with pytest.raises(GitError, match=r"larger than the 1 MB limit.*BUTLER_CLONE_MAX_MB"):
        clone(url=str(repo), dest=dest)
    assert not dest.exists()
    # Under the limit the same repository clones.
    assert clone(url=str(repo), dest=dest, max_bytes=20 * 1024 * 1024).size_bytes > 3_000_000


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never says a word: a clone must hang."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    for conn in accepted:
        conn.close()
    server.close()


def git_processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline and "git" in cmdline:
                pids.append(int(entry.name))
    return pids


def test_a_clone_over_the_time_limit_is_stopped(
    silent_server, dest, settings, no_proxy, loopback_servers
):
    settings.BUTLER_CLONE_TIMEOUT = 1
    url = f"https://127.0.0.1:{silent_server}/owner/repo.git"
    started = time.monotonic()
    with pytest.raises(GitError, match=r"^Cloning timed out after 1 s"):
        clone(url=url, dest=dest)
    assert time.monotonic() - started < 10
    assert not dest.exists()
    assert git_processes_mentioning(f"127.0.0.1:{silent_server}") == []  # helpers killed too


def test_submodules_are_not_fetched(root, dest):
    sub = make_repo(root / "lib", {"lib.py": "x = 1\n"})
    repo = make_repo(root / "app", {"app.py": "import lib\n"})
    run_git(
        "-c", "protocol.file.allow=always", "submodule", "add", "-q", sub.as_uri(), "lib", cwd=repo
    )
    run_git("commit", "-q", "-m", "add submodule", cwd=repo)

    clone(url=str(repo), dest=dest)

    assert (dest / ".gitmodules").exists()
    assert (dest / "lib").is_dir()
    assert list((dest / "lib").iterdir()) == []

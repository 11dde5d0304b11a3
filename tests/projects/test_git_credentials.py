"""Private repositories: an access token or a deploy key, kept encrypted, given to git
through its environment and a throwaway file, never its command line, a URL or a log."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import gitsources.cloning
from gitsources import GitCredential, GitError, clone
from projects.credentials import credential_for_clone
from projects.models import GitCredential as StoredCredential
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(alice):
    return ProjectFactory(owner=alice, git_url="https://git.example.com/alice/private.git")


def test_a_token_is_kept_encrypted_and_never_shown(alice_client, project):
    url = f"/api/projects/{project.id}/git-token"
    response = alice_client.put(url, {"token": "ghp_supersecret123"}, format="json")
    assert response.status_code == 200
    assert "ghp_supersecret123" not in response.content.decode()
    shown = alice_client.get(f"/api/projects/{project.id}/git-credential").json()
    assert shown["kind"] == "token" and "ghp_supersecret123" not in str(shown)
    stored = StoredCredential.objects.get(project=project)
    assert "ghp_supersecret123" not in stored.secret_encrypted
    assert credential_for_clone(project=project).secret == "ghp_supersecret123"


def test_a_deploy_key_is_generated_and_only_its_public_half_shown(alice_client, project):
    response = alice_client.post(f"/api/projects/{project.id}/deploy-key")
    assert response.status_code == 201
    body = response.json()
    assert body["kind"] == "ssh_key" and body["public_key"].startswith("ssh-ed25519 ")
    assert "PRIVATE KEY" not in response.content.decode()
    assert "deploy key" in body["message"]
    private = credential_for_clone(project=project).secret
    assert "OPENSSH PRIVATE KEY" in private
    assert "PRIVATE" not in StoredCredential.objects.get(project=project).secret_encrypted


def test_a_component_uses_its_parents_credential(alice):
    parent = ProjectFactory(owner=alice, git_url="split::https://h/a/fe|https://h/a/be")
    child = ProjectFactory(owner=alice, parent=parent, component_type="backend")
    from projects.credentials import credential_set_token

    credential_set_token(project=parent, token="tok-for-both")
    assert credential_for_clone(project=child).secret == "tok-for-both"


def test_another_users_project_is_not_found(bob_client, project):
    for method, path in [
        ("get", "git-credential"),
        ("put", "git-token"),
        ("post", "deploy-key"),
        ("delete", "git-credential"),
    ]:
        response = getattr(bob_client, method)(
            f"/api/projects/{project.id}/{path}", {"token": "x"}, format="json"
        )
        assert response.status_code == 404, (method, path)


@pytest.mark.parametrize("token", ["", "two words", "line\nbreak", "x" * 5000])
def test_a_token_that_is_not_one_is_refused(alice_client, project, token):
    response = alice_client.put(
        f"/api/projects/{project.id}/git-token", {"token": token}, format="json"
    )
    assert response.status_code == 400


def test_import_takes_a_token_for_a_private_repository(alice_client):
    response = alice_client.post(
        "/api/import",
        {"git_url": "https://git.example.com/alice/secret.git", "git_token": "glpat-abc123"},
        format="json",
    )
    assert response.status_code == 201
    assert "glpat" not in response.content.decode()
    assert StoredCredential.objects.get(project_id=response.json()["project_id"]).kind == "token"


def _capture_git(monkeypatch) -> dict:
    seen: dict = {}
    monkeypatch.setattr(gitsources.cloning, "resolve", lambda host, port: ["203.0.113.9"])

    def fake_run(cmd, *, env, **kwargs):
        seen["cmd"], seen["env"] = cmd, dict(env)
        home = Path(env["HOME"])
        if "GIT_ASKPASS" in env and env["GIT_ASKPASS"].startswith(str(home)):
            answer = subprocess.run(
                [env["GIT_ASKPASS"], "Password for 'https://git.example.com':"],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            seen["askpass_answer"] = answer.stdout.strip()
        if "deploy_key" in env.get("GIT_SSH_COMMAND", ""):
            seen["key"] = (home / "deploy_key").read_text()
            seen["key_mode"] = oct(os.stat(home / "deploy_key").st_mode & 0o777)
        raise GitError("stop here")

    monkeypatch.setattr(gitsources.cloning, "_run_clone", fake_run)
    return seen


def test_git_gets_the_token_through_askpass_not_its_command_line(tmp_path, monkeypatch):
    seen = _capture_git(monkeypatch)
    with pytest.raises(GitError):
        clone(
            url="https://git.example.com/alice/private.git",
            dest=tmp_path / "dest",
            credential=GitCredential(kind="token", secret="ghp_topsecret"),
        )
    assert "ghp_topsecret" not in " ".join(seen["cmd"])
    assert seen["askpass_answer"] == "ghp_topsecret"
    assert "credential.helper=" in seen["cmd"]


def test_git_gets_the_deploy_key_in_a_private_file(tmp_path, monkeypatch):
    seen = _capture_git(monkeypatch)
    with pytest.raises(GitError):
        clone(
            url="git@git.example.com:alice/private.git",
            dest=tmp_path / "dest",
            credential=GitCredential(kind="ssh_key", secret="-----BEGIN KEY-----\nabc\n"),
        )
    assert "-----BEGIN KEY-----" in seen["key"] and seen["key_mode"] == "0o600"
    assert "IdentitiesOnly=yes" in seen["env"]["GIT_SSH_COMMAND"]
    assert "HostName=203.0.113.9" in seen["env"]["GIT_SSH_COMMAND"]  # pinned to the checked address
    assert "BEGIN KEY" not in " ".join(seen["cmd"])

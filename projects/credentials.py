"""Private repositories: a project's access token or deploy key (writes and the one read
that decrypts, for git).

A deploy key is an ed25519 key pair Butler generates; the public half is shown to the user
to add as a read-only deploy key, the private half never leaves Butler. A token is the
user's (a GitHub or GitLab access token with read access to the repository).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from django.db import transaction

import gitsources
from core import crypto
from core.errors import ApplicationError
from projects.models import GitCredential, Project

MAX_TOKEN_LENGTH = 4096


@transaction.atomic
def credential_set_token(*, project: Project, token: str, username: str = "") -> GitCredential:
    """Keep `token` (encrypted) to clone `project`'s https repository with."""
    token = (token or "").strip()
    if not token:
        raise ApplicationError("The access token is empty.", field="token")
    if len(token) > MAX_TOKEN_LENGTH or any(ch.isspace() or ord(ch) < 32 for ch in token):
        raise ApplicationError(
            "That is not an access token: it must be one line without spaces, at most 4 KB.",
            field="token",
        )
    username = (username or "").strip()
    if len(username) > 255 or any(ch.isspace() or ch in ":@/" for ch in username):
        raise ApplicationError(
            "The user name may not contain spaces, ':', '@' or '/'.", field="username"
        )
    credential, _ = GitCredential.objects.update_or_create(
        project=project,
        defaults={
            "kind": GitCredential.Kind.TOKEN,
            "username": username,
            "secret_encrypted": crypto.encrypt(token),
            "public_key": "",
        },
    )
    return credential


@transaction.atomic
def credential_generate_deploy_key(*, project: Project) -> GitCredential:
    """A new ed25519 key pair for `project` (replacing any credential it had)."""
    with tempfile.TemporaryDirectory(prefix="butler-keygen-") as tmp:
        path = Path(tmp) / "key"
        try:
            subprocess.run(
                [
                    "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path),
                    "-C", f"butler-{project.app_name}",
                ],
                check=True,
                capture_output=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            raise ApplicationError(
                "Could not generate a deploy key: ssh-keygen is not available on the Butler "
                "host. Install OpenSSH, or use an access token instead.",
                status_code=503,
            ) from None
        private = path.read_text()
        public = Path(f"{path}.pub").read_text().strip()
    credential, _ = GitCredential.objects.update_or_create(
        project=project,
        defaults={
            "kind": GitCredential.Kind.SSH_KEY,
            "username": "",
            "secret_encrypted": crypto.encrypt(private),
            "public_key": public,
        },
    )
    return credential


def credential_delete(*, project: Project) -> bool:
    deleted, _ = GitCredential.objects.filter(project=project).delete()
    return bool(deleted)


def credential_get(*, project: Project) -> GitCredential | None:
    """The project's own credential (no secret in it is decrypted)."""
    return GitCredential.objects.filter(project=project).first()


def credential_for_clone(*, project: Project) -> gitsources.GitCredential | None:
    """The decrypted credential git uses for `project` (a component falls back to its
    parent's); None when it has none, or it cannot be decrypted with the configured keys."""
    row = GitCredential.objects.filter(project=project).first()
    if row is None and project.parent_id:
        row = GitCredential.objects.filter(project_id=project.parent_id).first()
    if row is None:
        return None
    try:
        secret = crypto.decrypt(row.secret_encrypted)
    except crypto.DecryptionError:
        return None
    return gitsources.GitCredential(kind=row.kind, secret=secret, username=row.username)

"""Re-encrypt every secret Butler keeps under the newest key (key rotation): environment
variable values, the env snapshots of releases, and Git credentials.

Rotate: put a new key first in BUTLER_ENCRYPTION_KEYS (keep the old ones after it), restart,
run this command, then drop the old keys. Values are never printed; unreadable rows are
listed by project and name, and the command exits with status 1 when there are any.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core import crypto
from deployments.models import Release
from envvars.models import EnvironmentVariable
from projects.models import GitCredential

# (model, the encrypted field, how a row is named in a message)
SECRETS = [
    (EnvironmentVariable, "value_encrypted", lambda row: row.key),
    (Release, "env_encrypted", lambda row: f"release v{row.number}"),
    (GitCredential, "secret_encrypted", lambda row: f"git {row.kind}"),
]


class Command(BaseCommand):
    help = "Re-encrypt env var values, release snapshots and Git credentials under the newest key."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Rows read per query (default 500)."
        )

    def handle(self, *args, batch_size: int, **options):
        crypto.get_fernet()  # a misconfigured key stops here with a clear message
        rotated = 0
        unreadable: list[str] = []
        for model, field, name in SECRETS:
            rows = model.objects.select_related("project").exclude(**{field: ""}).order_by("id")
            for row in rows.iterator(chunk_size=batch_size):
                token = getattr(row, field)
                try:
                    new_token = crypto.rotate(token)
                except crypto.DecryptionError:
                    unreadable.append(
                        f"project {row.project_id} ({row.project.app_name}) {name(row)}"
                    )
                    continue
                # Conditional on the old token: a value changed meanwhile is already under
                # the newest key, and must not be overwritten with the old one.
                rotated += model.objects.filter(id=row.id, **{field: token}).update(
                    **{field: new_token}
                )
        self.stdout.write(f"Re-encrypted {rotated} value(s) under the newest key.")
        if unreadable:
            for name in unreadable:
                self.stderr.write(f"  could not decrypt: {name}")
            raise CommandError(
                f"{len(unreadable)} value(s) could not be decrypted with the configured keys "
                "and were left as they are. Add the key they were written with, or set them again."
            )

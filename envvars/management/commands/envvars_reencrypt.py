"""Re-encrypt every environment variable value under the newest key (key rotation).

Rotate: put a new key first in BUTLER_ENCRYPTION_KEYS (keep the old ones after it), restart,
run this command, then drop the old keys. Values are never printed; unreadable rows are
listed by project and key name, and the command exits with status 1 when there are any.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from envvars import crypto
from envvars.models import EnvironmentVariable


class Command(BaseCommand):
    help = "Re-encrypt every environment variable value under the newest encryption key."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Rows read per query (default 500)."
        )

    def handle(self, *args, batch_size: int, **options):
        crypto.get_fernet()  # a misconfigured key stops here with a clear message
        rotated = 0
        unreadable: list[str] = []
        rows = (
            EnvironmentVariable.objects.select_related("project")
            .only("id", "key", "value_encrypted", "project__id", "project__app_name")
            .order_by("id")
        )
        for row in rows.iterator(chunk_size=batch_size):
            try:
                token = crypto.rotate(row.value_encrypted)
            except crypto.DecryptionError:
                unreadable.append(f"project {row.project_id} ({row.project.app_name}) {row.key}")
                continue
            # Conditional on the old token: a value changed meanwhile is already under the
            # newest key, and must not be overwritten with the old one.
            rotated += EnvironmentVariable.objects.filter(
                id=row.id, value_encrypted=row.value_encrypted
            ).update(value_encrypted=token)
        self.stdout.write(f"Re-encrypted {rotated} value(s) under the newest key.")
        if unreadable:
            for name in unreadable:
                self.stderr.write(f"  could not decrypt: {name}")
            raise CommandError(
                f"{len(unreadable)} value(s) could not be decrypted with the configured keys "
                "and were left as they are. Add the key they were written with, or set them again."
            )

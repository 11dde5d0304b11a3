"""Startup check: unusable encryption keys stop `migrate`, `runbutler` and `check` with a
message that says which key is wrong (by position, never its text) and how to make one."""

from __future__ import annotations

from django.core.checks import Error, register

from core import crypto


@register()
def encryption_keys_check(app_configs, **kwargs):
    problem = crypto.check_configuration()
    if problem is None:
        return []
    return [
        Error(
            problem,
            hint="Fix BUTLER_ENCRYPTION_KEYS (comma-separated Fernet keys, newest first).",
            id="envvars.E001",
        )
    ]

"""Encryption at rest for secrets: env var values, release env snapshots, Git credentials (Fernet, keys rotate).

Keys come from `settings.BUTLER_ENCRYPTION_KEYS` (newest first: the first encrypts, every key
decrypts). When none are configured, one key is generated into `DATA_DIR/encryption_keys`
(mode 0600, one key a line, newest first) and used from then on. These keys are separate
from `SECRET_KEY`: rotating one never touches the other.

Rotating: put a new key first (in the setting, or as the file's first line), keep the old
ones after it, restart, run `manage.py envvars_reencrypt`, then remove the old keys.

Nothing in this module puts a key or a value into an exception message or a log line.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEYS_FILENAME = "encryption_keys"
GENERATE_HINT = (
    "Generate one with: python -c "
    '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


class EncryptionConfigError(ImproperlyConfigured):
    """The configured keys cannot be used. The message names the key's position, never the key."""


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key."""


_lock = threading.Lock()
_cache: dict[tuple, MultiFernet] = {}


def keys_file() -> Path:
    return Path(settings.DATA_DIR) / KEYS_FILENAME


def _read_keys_file(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _generate_keys_file(path: Path) -> None:
    """Write a new key to `path` atomically; if another process got there first, keep theirs."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(Fernet.generate_key().decode() + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # atomic: the file appears complete or not at all
    finally:
        tmp.unlink(missing_ok=True)


def configured_keys(*, create: bool = True) -> tuple[list[str], str]:
    """The keys in use (newest first) and where they came from (for messages)."""
    keys = [k.strip() for k in settings.BUTLER_ENCRYPTION_KEYS if k and k.strip()]
    if keys:
        return keys, "BUTLER_ENCRYPTION_KEYS"
    path = keys_file()
    if not path.exists() and create:
        _generate_keys_file(path)
    if not path.exists():
        return [], str(path)
    return _read_keys_file(path), str(path)


def _build(keys: list[str], origin: str) -> MultiFernet:
    if not keys:
        raise EncryptionConfigError(f"No encryption key found in {origin}. {GENERATE_HINT}")
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            # `from None`: the original exception's context would carry the key.
            raise EncryptionConfigError(
                f"Encryption key #{position} in {origin} is not a valid Fernet key "
                f"(32 url-safe base64-encoded bytes). {GENERATE_HINT}"
            ) from None
    return MultiFernet(fernets)


def get_fernet() -> MultiFernet:
    """The MultiFernet for the current keys (cached per key set, so settings overrides work)."""
    keys, origin = configured_keys()
    cache_key = (origin, *keys)
    fernet = _cache.get(cache_key)
    if fernet is None:
        with _lock:
            fernet = _cache.get(cache_key) or _build(keys, origin)
            _cache.clear()  # only the current key set is ever needed
            _cache[cache_key] = fernet
    return fernet


def check_configuration() -> str | None:
    """A message saying what is wrong with the configured keys, or None if they work."""
    try:
        keys, origin = configured_keys(create=False)
        if keys or origin == "BUTLER_ENCRYPTION_KEYS":
            _build(keys, origin)
    except EncryptionConfigError as exc:
        return str(exc)
    except OSError as exc:
        return f"Cannot read the encryption keys file: {exc.strerror}."
    return None


def encrypt(value: str) -> str:
    """The Fernet token (ASCII) for `value`, under the newest key."""
    return get_fernet().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    """The plain value of a token; `DecryptionError` if no configured key opens it."""
    try:
        return get_fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError, TypeError):
        raise DecryptionError("could not be decrypted with the configured keys") from None


def rotate(token: str) -> str:
    """The same value re-encrypted under the newest key; `DecryptionError` if unreadable."""
    try:
        return get_fernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError, ValueError, TypeError):
        raise DecryptionError("could not be decrypted with the configured keys") from None

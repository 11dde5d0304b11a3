"""Brute-force protection for logins: per-username and per-address attempt counters."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import LoginThrottle


def _keys(*, username: str, ip: str) -> list[tuple[str, int]]:
    return [
        (f"user:{username.strip().lower()[:150]}", settings.BUTLER_LOGIN_MAX_FAILURES_PER_USER),
        (f"ip:{ip}", settings.BUTLER_LOGIN_MAX_FAILURES_PER_IP),
    ]


def login_attempt_begin(*, username: str, ip: str) -> int:
    """Count one attempt against the username and the address.

    Returns 0 when the attempt may go ahead, else the seconds to wait. Runs in one transaction
    (IMMEDIATE on SQLite, row locks elsewhere) so concurrent attempts are counted one by one.
    """
    now = timezone.now()
    window = timedelta(seconds=settings.BUTLER_LOGIN_LOCKOUT_SECONDS)
    retry_after = 0
    for _ in range(3):
        try:
            with transaction.atomic():
                for key, limit in _keys(username=username, ip=ip):
                    row, _created = LoginThrottle.objects.select_for_update().get_or_create(
                        key=key, defaults={"window_start": now}
                    )
                    if row.locked_until and row.locked_until > now:
                        retry_after = max(
                            retry_after, int((row.locked_until - now).total_seconds()) + 1
                        )
                        continue
                    if row.window_start + window < now or row.locked_until:
                        row.attempts, row.window_start, row.locked_until = 0, now, None
                    row.attempts += 1
                    if row.attempts > limit:
                        row.locked_until = now + window
                        retry_after = max(retry_after, int(window.total_seconds()))
                    row.save()
            return retry_after
        except IntegrityError:  # two first attempts created the same row; count again
            continue
    return retry_after


def login_attempt_succeeded(*, username: str, ip: str) -> None:
    """A correct password clears the username's counter and gives back the address's attempt."""
    user_key, ip_key = (key for key, _ in _keys(username=username, ip=ip))
    LoginThrottle.objects.filter(key=user_key).delete()
    LoginThrottle.objects.filter(key=ip_key, attempts__gt=0).update(attempts=F("attempts") - 1)

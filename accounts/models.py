from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """Butler's user: Django's, with a unique email and an avatar file name."""

    email = models.EmailField("email address", unique=True)
    avatar = models.CharField(max_length=255, blank=True, default="")
    # Moves on at every password change; tokens carry it, so older ones stop working.
    token_version = models.PositiveIntegerField(default=0)

    @property
    def avatar_url(self) -> str | None:
        return f"{settings.AVATAR_URL_PREFIX}{self.avatar}" if self.avatar else None


class LoginThrottle(models.Model):
    """Login attempts counted per username or per client address, for brute-force protection.

    Attempts are counted *before* the password is checked, in one atomic step, so a burst of
    concurrent guesses cannot slip past the limit.
    """

    key = models.CharField(max_length=200, unique=True)
    attempts = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.key

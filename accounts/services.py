"""Writes for accounts: creating users, changing profiles, passwords and avatars."""

from __future__ import annotations

import io
import secrets
import warnings
from pathlib import Path

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from PIL import Image, UnidentifiedImageError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import User
from core import events

AVATAR_FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp"}


def _avatar_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / "avatars"
    path.mkdir(parents=True, exist_ok=True)
    return path


def email_taken(*, email: str, exclude_user_id: int | None = None) -> bool:
    qs = User.objects.filter(email__iexact=email)
    if exclude_user_id is not None:
        qs = qs.exclude(id=exclude_user_id)
    return qs.exists()


def username_taken(*, username: str, exclude_user_id: int | None = None) -> bool:
    qs = User.objects.filter(username__iexact=username)
    if exclude_user_id is not None:
        qs = qs.exclude(id=exclude_user_id)
    return qs.exists()


SIGNUP_CLOSED = (
    "Registration is closed on this Butler. Ask its administrator for an account "
    "(manage.py createsuperuser), or set BUTLER_SIGNUP=open."
)


def signup_open() -> bool:
    """Whether someone may register now (`BUTLER_SIGNUP`: open, first, closed)."""
    policy = settings.BUTLER_SIGNUP
    if policy == "closed":
        return False
    if policy == "first":
        return not User.objects.exists()
    return True


@transaction.atomic
def user_create(*, username: str, email: str, password: str) -> User:
    """Create a user after Django's password validators accept the password.

    Registration follows `BUTLER_SIGNUP`; with `first`, the first user becomes the admin.
    """
    # Inside the transaction (SQLite takes its write lock at BEGIN), so two racing first
    # registrations cannot both find no user.
    if not signup_open():
        raise PermissionDenied(SIGNUP_CLOSED)
    first = settings.BUTLER_SIGNUP == "first"
    errors: dict[str, list[str]] = {}
    if username_taken(username=username):
        errors["username"] = ["A user with that username already exists."]
    if email_taken(email=email):
        errors["email"] = ["A user with that email already exists."]
    try:
        validate_password(password, user=User(username=username, email=email))
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    if first:
        return User.objects.create_superuser(username=username, email=email, password=password)
    return User.objects.create_user(username=username, email=email, password=password)


@transaction.atomic
def user_update_profile(
    *, user: User, username: str | None = None, email: str | None = None
) -> User:
    """Change the username and/or email, refusing ones another user has."""
    errors: dict[str, list[str]] = {}
    if username is not None and username_taken(username=username, exclude_user_id=user.id):
        errors["username"] = ["A user with that username already exists."]
    if email is not None and email_taken(email=email, exclude_user_id=user.id):
        errors["email"] = ["A user with that email already exists."]
    if errors:
        raise ValidationError(errors)
    if username is not None:
        user.username = username
    if email is not None:
        user.email = email
    user.save(update_fields=["username", "email"])
    return user


@transaction.atomic
def user_change_password(*, user: User, current_password: str, new_password: str) -> User:
    """Change the password (the current one is required) and revoke issued refresh tokens."""
    if not current_password or not user.check_password(current_password):
        raise ValidationError({"current_password": ["The current password is not correct."]})
    try:
        validate_password(new_password, user=user)
    except ValidationError as exc:
        raise ValidationError({"new_password": list(exc.messages)}) from exc
    user.set_password(new_password)
    user.token_version += 1  # every access token issued before stops working now
    user.save(update_fields=["password", "token_version"])
    for token in OutstandingToken.objects.filter(user=user):
        BlacklistedToken.objects.get_or_create(token=token)
    # Open WebSockets check their credential again (and close if it was one of these).
    events.publish(events.CREDENTIALS_REVOKED, user_id=user.id, reason="password changed")
    return user


def user_logged_out_announce(sender, request, user, **kwargs) -> None:
    """A logout ends a session: WebSockets signed in with it check theirs, and close."""
    if user is not None:
        events.publish(events.CREDENTIALS_REVOKED, user_id=user.id, reason="logged out")


def _verified_image_extension(upload: UploadedFile) -> tuple[str, bytes]:
    if upload.size is not None and upload.size > settings.AVATAR_MAX_BYTES:
        raise ValidationError({"avatar": ["The image is larger than 2 MB."]})
    data = upload.read(settings.AVATAR_MAX_BYTES + 1)
    if len(data) > settings.AVATAR_MAX_BYTES:
        raise ValidationError({"avatar": ["The image is larger than 2 MB."]})
    allowed = "Upload a PNG, JPEG, GIF or WebP image."
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format
                image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ValidationError(
            {"avatar": [f"The file is not a readable image. {allowed}"]}
        ) from None
    except Exception:  # Pillow raises many types for corrupt files
        raise ValidationError({"avatar": [f"The image is corrupt. {allowed}"]}) from None
    if fmt not in AVATAR_FORMATS:
        raise ValidationError({"avatar": [f"{fmt} images are not accepted. {allowed}"]})
    return AVATAR_FORMATS[fmt], data


def _remove_avatar_file(name: str) -> None:
    if name:
        (_avatar_dir() / Path(name).name).unlink(missing_ok=True)


def _store_avatar(*, user: User, ext: str, data: bytes) -> None:
    name = f"{user.id}_{secrets.token_hex(8)}.{ext}"
    (_avatar_dir() / name).write_bytes(data)
    old = user.avatar
    user.avatar = name
    user.save(update_fields=["avatar"])
    _remove_avatar_file(old)


def user_remove_avatar(*, user: User) -> User:
    old = user.avatar
    user.avatar = ""
    user.save(update_fields=["avatar"])
    _remove_avatar_file(old)
    return user


@transaction.atomic
def user_update(
    *,
    user: User,
    username: str | None = None,
    email: str | None = None,
    current_password: str | None = None,
    new_password: str | None = None,
    avatar: UploadedFile | None = None,
    remove_avatar: bool = False,
) -> User:
    """Apply a profile change as a whole: every part is checked before anything is kept.

    The avatar must be a real PNG/JPEG/GIF/WebP image (verified with Pillow) of at most
    2 MB; it is stored as `avatars/{user_id}_{random}.{ext}` and the old file is removed.
    """
    verified = _verified_image_extension(avatar) if avatar is not None else None
    if username is not None or email is not None:
        user_update_profile(user=user, username=username, email=email)
    if new_password:
        user_change_password(
            user=user, current_password=current_password or "", new_password=new_password
        )
    if verified is not None:
        _store_avatar(user=user, ext=verified[0], data=verified[1])
    elif remove_avatar:
        user_remove_avatar(user=user)
    return user

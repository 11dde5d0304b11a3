"""The errors services raise for input a user can fix. Nothing here knows about HTTP.

`butler_site.exception_handler` turns them into JSON answers (`{"detail": …, "<field>": […]}`);
the web UI shows `message` next to `field`.
"""

from __future__ import annotations


class ApplicationError(Exception):
    """Something the user can fix; `message` says what, `field` names the input at fault.

    `status_code` is the HTTP status the API answers with (400 unless said otherwise: 404 for
    something that does not exist, 409 for a conflict with the current state).
    """

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if status_code is not None:
            self.status_code = status_code


class NotFoundError(ApplicationError):
    status_code = 404


class ConflictError(ApplicationError):
    """The request is fine, but not in the current state of things (409)."""

    status_code = 409

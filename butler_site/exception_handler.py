"""One place that turns domain errors into 4xx answers that say what to fix."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler

from core.errors import ApplicationError


def butler_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, ApplicationError):
        body = {"detail": exc.message}
        if exc.field:
            body[exc.field] = [exc.message]
        return Response(body, status=exc.status_code)

    if isinstance(exc, exceptions.UnsupportedMediaType):
        view = context.get("view")
        accepted = [parser.media_type for parser in getattr(view, "parser_classes", [])]
        exc = exceptions.UnsupportedMediaType(
            exc.detail, detail=f"Unsupported media type. Send the body as {' or '.join(accepted)}."
        )
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(response.data, dict) and "detail" not in response.data:
        # Field errors: keep DRF's {"field": ["reason"]} and add a one-line summary.
        first_field, reasons = next(iter(response.data.items()))
        reason = reasons[0] if isinstance(reasons, list) and reasons else reasons
        label = "" if first_field == "non_field_errors" else f"{first_field}: "
        response.data = {"detail": f"{label}{reason}", **response.data}
    elif isinstance(response.data, list):
        response.data = {"detail": " ".join(str(item) for item in response.data)}
    return response

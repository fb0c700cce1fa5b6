"""One JSON error shape for every failure: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from rest_framework import exceptions, status
from rest_framework.response import Response


class ApiError(exceptions.APIException):
    """A business-rule failure with a machine-readable code."""

    def __init__(self, code: str, message: str, http_status: int = status.HTTP_422_UNPROCESSABLE_ENTITY, details=None,
                 headers: dict | None = None):
        super().__init__(detail=message, code=code)
        self.status_code = http_status
        self.error_code = code
        self.details = details or {}
        self.headers = headers or {}


class NotFound(ApiError):
    def __init__(self, what: str):
        super().__init__("not_found", f"{what} not found", status.HTTP_404_NOT_FOUND)


_DRF_CODES = {
    exceptions.NotAuthenticated: "unauthenticated",
    exceptions.AuthenticationFailed: "unauthenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.ParseError: "malformed_request",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.ValidationError: "invalid_argument",
    exceptions.Throttled: "rate_limited",
}


def exception_handler(exc, context):
    # Imported here: DRF loads the authentication classes (which use ApiError) while importing its views.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiError):
        code, message, details = exc.error_code, str(exc.detail), exc.details
    else:
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
        if isinstance(exc, exceptions.ValidationError):
            message, details = "the request has invalid fields", {"fields": response.data}
        else:
            message, details = str(getattr(exc, "detail", exc)), {}
    body = {"error": {"code": code, "message": message, "details": details}}
    headers = {k: v for k, v in response.items()} | getattr(exc, "headers", {})
    return Response(body, status=response.status_code, headers=headers)

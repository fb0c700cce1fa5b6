"""REST's edge for errors: every failure answers one JSON envelope, {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from django.http import JsonResponse
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from gateway import errors

HTTP_STATUS: dict[type[errors.DomainError], int] = {
    errors.InvalidArgument: status.HTTP_400_BAD_REQUEST,
    errors.Unauthenticated: status.HTTP_401_UNAUTHORIZED,
    errors.PermissionDenied: status.HTTP_403_FORBIDDEN,
    errors.NotFound: status.HTTP_404_NOT_FOUND,
    errors.Conflict: status.HTTP_409_CONFLICT,
    errors.FailedPrecondition: status.HTTP_422_UNPROCESSABLE_ENTITY,
    errors.ResourceExhausted: status.HTTP_429_TOO_MANY_REQUESTS,
    errors.PayloadTooLarge: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    errors.Unavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
}

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


def envelope(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def http_status(error: errors.DomainError) -> int:
    return next(code for kind, code in HTTP_STATUS.items() if isinstance(error, kind))


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: domain errors, a store's outage and DRF's own exceptions, in the one envelope."""
    exc = errors.outage(exc) or exc
    if isinstance(exc, errors.DomainError):
        headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else {}
        return Response(envelope(exc.code, exc.message, exc.details), status=http_status(exc), headers=headers)
    # Imported here: DRF loads the authentication classes while importing its views.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        message, details = "the request has invalid fields", {"fields": response.data}
    else:
        message, details = str(getattr(exc, "detail", exc)), {}
    return Response(envelope(code, message, details), status=response.status_code, headers=dict(response.items()))


def bad_request(request, exception=None):
    """handler400: what Django itself refuses (too many form fields, a suspicious request) answers the envelope."""
    return JsonResponse(envelope("malformed_request", "the request could not be read"), status=400)


def not_found(request, exception=None):
    """handler404: unknown URLs answer the envelope too."""
    return JsonResponse(envelope("not_found", "no such resource"), status=404)


class OutageMiddleware:
    """What a view outside DRF (the studio's pages) raises while a store is away answers 503 with Retry-After, as
    the API does (`exception_handler`), instead of a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc):
        unavailable = errors.outage(exc)
        if unavailable is None:
            return None
        if request.path.startswith("/studio/"):
            from django.shortcuts import render

            message = "We are briefly unavailable. Please try again in a few seconds; nothing you did was lost."
            response = render(request, "studio/error.html", {"message": message}, status=503)
        else:
            response = JsonResponse(envelope(unavailable.code, unavailable.message), status=503)
        response["Retry-After"] = str(unavailable.retry_after_s)
        return response


def server_error(request):
    """handler500: never a stack trace or an HTML page."""
    return JsonResponse(envelope("internal", "internal error"), status=500)


# -- the envelope in the OpenAPI document -------------------------------------------------------------------------
class ErrorBody(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField()


class ErrorOutput(serializers.Serializer):
    error = ErrorBody()


ERROR_RESPONSES = {code: OpenApiResponse(ErrorOutput) for code in (400, 401, 403, 404, 409, 413, 422, 429, 431, 503)}

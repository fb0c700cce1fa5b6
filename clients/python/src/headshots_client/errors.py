"""What goes wrong, as exceptions: every API error carries the API's machine-readable `code` (REST's
`error.code`, gRPC's ErrorInfo reason), and its class says the kind, the same over REST and gRPC.

    HeadshotsError
    ├── ApiError (code, message, details, http_status, grpc_status, retry_after_s)
    │   ├── InvalidArgument     400, INVALID_ARGUMENT: fix the request (`details["fields"]` names the fields)
    │   ├── Unauthenticated     401, UNAUTHENTICATED: a wrong, revoked or missing key
    │   ├── PermissionDenied    403, PERMISSION_DENIED
    │   ├── NotFound            404, NOT_FOUND: no such order for this key (test keys see test orders only)
    │   ├── FailedPrecondition  409, 422, FAILED_PRECONDITION: not in this state (`code` says which)
    │   ├── ResourceExhausted   413, 429, RESOURCE_EXHAUSTED: quota, rate limit, too large
    │   ├── Unavailable         503, UNAVAILABLE: back-pressure or an outage; retried by the client
    │   └── InternalError       500 and anything else
    ├── ConnectionFailed        no answer from the endpoint (DNS, refused, TLS, timeout)
    ├── ChecksumMismatch        a download's bytes do not match the file's SHA-256
    ├── TransportError          a setting that would expose the key (plaintext to another machine), or is unusable
    └── WebhookVerificationError  a webhook whose signature or timestamp does not check out
"""

from __future__ import annotations

from typing import Any


class HeadshotsError(Exception):
    """Every error this package raises."""


class ApiError(HeadshotsError):
    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        http_status: int | None = None,
        grpc_status: str | None = None,
        retry_after_s: float | None = None,
    ):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.details = code, message, details or {}
        self.http_status, self.grpc_status, self.retry_after_s = http_status, grpc_status, retry_after_s


class InvalidArgument(ApiError):
    pass


class Unauthenticated(ApiError):
    pass


class PermissionDenied(ApiError):
    pass


class NotFound(ApiError):
    pass


class FailedPrecondition(ApiError):
    pass


class ResourceExhausted(ApiError):
    pass


class Unavailable(ApiError):
    pass


class InternalError(ApiError):
    pass


class ConnectionFailed(HeadshotsError):
    pass


class ChecksumMismatch(HeadshotsError):
    pass


class TransportError(HeadshotsError):
    """A setting that would expose the key, or cannot be used; the message says what to do."""


class WebhookVerificationError(HeadshotsError):
    pass


BY_HTTP_STATUS: dict[int, type[ApiError]] = {
    400: InvalidArgument,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: FailedPrecondition,
    413: ResourceExhausted,
    422: FailedPrecondition,
    429: ResourceExhausted,
    503: Unavailable,
}
BY_GRPC_STATUS: dict[str, type[ApiError]] = {
    "INVALID_ARGUMENT": InvalidArgument,
    "UNAUTHENTICATED": Unauthenticated,
    "PERMISSION_DENIED": PermissionDenied,
    "NOT_FOUND": NotFound,
    "FAILED_PRECONDITION": FailedPrecondition,
    "RESOURCE_EXHAUSTED": ResourceExhausted,
    "UNAVAILABLE": Unavailable,
}

"""Domain errors: what services and selectors raise when a caller's request cannot be done.

Each carries a machine-readable `code` (the REST envelope's `error.code`, gRPC's ErrorInfo reason),
a message for people and optional details. The kind of error is its class; REST
(`gateway.rest_errors`) and gRPC (`partner_grpc.status`) map the class to a status at their edges,
so business code knows neither HTTP nor gRPC.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    def __init__(
        self, code: str, message: str, *, details: dict[str, Any] | None = None, retry_after_s: int | None = None
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.retry_after_s = retry_after_s  # when the same request may succeed again (quotas)

    @property
    def field_errors(self) -> dict[str, list[str]]:
        """Problems per request field, when the error names fields."""
        return self.details.get("fields", {})


class InvalidArgument(DomainError):
    """The request itself is wrong (a value out of range, an unknown style); retrying it as is cannot help."""


class Unauthenticated(DomainError):
    """The caller could not be identified (wrong password, missing or revoked key)."""


class PermissionDenied(DomainError):
    """The caller is known but may not do this yet (a consumer whose e-mail is not verified submitting an order)."""


class NotFound(DomainError):
    """The resource does not exist, or belongs to someone else (the two are indistinguishable)."""

    def __init__(self, what: str):
        super().__init__("not_found", f"{what} not found")


class Conflict(DomainError):
    """The resource is in a state that does not allow this (already submitted, key reused, email taken)."""


class FailedPrecondition(DomainError):
    """The request is well formed but the resource lacks what it needs first (too few photos)."""


class ResourceExhausted(DomainError):
    """A quota or limit is used up; `retry_after_s` says when it frees up."""


class PayloadTooLarge(DomainError):
    """An upload over a cap on files or bytes; `details` name the limit. Nothing of it was kept."""


class Unavailable(DomainError):
    """A store the gateway needs (the database, the blob store) cannot be reached for now: the same request can
    succeed after `retry_after_s` (REST 503, gRPC UNAVAILABLE)."""


# How long a caller is asked to wait while a store is away: about what a restarted database takes to come back.
OUTAGE_RETRY_AFTER_S = 5


def outage(exc: BaseException) -> Unavailable | None:
    """The Unavailable to answer for `exc` when it says a store is away (a database connection lost or refused,
    the blob store unreachable or shedding load); None for every other failure, which stays an internal error."""
    from django.db import InterfaceError, OperationalError

    from headshots_common.blobstore import unavailable

    if isinstance(exc, OperationalError | InterfaceError):
        store = "the database"
    elif unavailable(exc):
        store = "the photo store"
    else:
        return None
    return Unavailable(
        "unavailable", f"{store} cannot be reached for a moment; retry shortly", retry_after_s=OUTAGE_RETRY_AFTER_S
    )

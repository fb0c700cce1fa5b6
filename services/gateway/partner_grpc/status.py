"""gRPC's edge for errors: a domain error becomes a status code with google.rpc details.

The ErrorInfo reason is the same machine-readable code REST puts in `error.code`; field problems
travel as BadRequest field violations and quota waits as RetryInfo.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from gateway import errors

ERROR_DOMAIN = "headshots.v1"

STATUS_CODE: dict[type[errors.DomainError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.Conflict: grpc.StatusCode.FAILED_PRECONDITION,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    # As gRPC itself answers a message over the size limit.
    errors.PayloadTooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def status_code(error: errors.DomainError) -> grpc.StatusCode:
    return next(code for kind, code in STATUS_CODE.items() if isinstance(error, kind))


def abort(context: grpc.ServicerContext, error: errors.DomainError) -> None:
    """End the call with the error's status, its code in ErrorInfo, and rich details where they apply."""
    code = status_code(error)
    details: list = [error_details_pb2.ErrorInfo(reason=error.code, domain=ERROR_DOMAIN)]
    if error.field_errors:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=name, description="; ".join(map(str, problems)))
                    for name, problems in error.field_errors.items()
                ]
            )
        )
    if error.retry_after_s is not None:
        details.append(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=error.retry_after_s)))
    packed = []
    for detail in details:
        any_detail = any_pb2.Any()
        any_detail.Pack(detail)
        packed.append(any_detail)
    status = status_pb2.Status(
        code=getattr(code_pb2, code.name), message=f"{error.code}: {error.message}", details=packed
    )
    context.abort_with_status(rpc_status.to_status(status))

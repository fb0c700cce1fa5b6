"""What every partner call goes through: authentication, the rate limit, a stream slot, and error mapping.

`@answer(...)` and `@server_stream` wrap a servicer method; the method receives the partner's tenant
(None for public methods). Servicers carry their `streams` (a `limits.StreamLimiter`). A domain error
becomes its gRPC status (`status.abort`); an unexpected error is logged and answered INTERNAL, never
UNKNOWN with a Python message.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator

import grpc
from django.db import close_old_connections
from google.protobuf.message import Message

from accounts.authentication import bearer_token
from accounts.selectors import tenant_for_key
from gateway import ratelimit
from gateway.config import CONFIG
from gateway.errors import DomainError, InvalidArgument, Unauthenticated, outage
from headshots_common import logs
from partner_grpc import names, status

log = logging.getLogger(__name__)


def caller_key(context: grpc.ServicerContext) -> str:
    """The bearer key the call was made with ("" for none)."""
    header = dict(context.invocation_metadata()).get("authorization", "")
    return bearer_token(header.decode(errors="replace") if isinstance(header, bytes) else header) or ""


def _tenant(context: grpc.ServicerContext, public: bool):
    token = caller_key(context)
    tenant = tenant_for_key(token) if token else None
    if tenant is None and not public:
        raise Unauthenticated("unauthenticated", "missing or invalid `authorization: Bearer <key>` metadata")
    if tenant is not None:
        logs.set_tenant(str(tenant.pk))
        ratelimit.check(ratelimit.key("tenant", tenant.pk), CONFIG.rate_limit)
    return tenant


def _order_named(request) -> str:
    """The order a request names in `name` or `parent`, for its log lines; "" for none."""
    for field in ("name", "parent"):
        value = getattr(request, field, "")
        if isinstance(value, str) and (order_id := names.order_id_in(value)):
            return order_id
    return ""


def _nul_field(message: Message, prefix: str = "") -> str | None:
    """The path of a string field holding a NUL character (no database stores one), if any."""
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        values = value if field.is_repeated else [value]
        for item in values:
            if isinstance(item, str) and "\x00" in item:
                return path
            if isinstance(item, Message) and (found := _nul_field(item, f"{path}.")):
                return found
    return None


def _checked(request: Message) -> Message:
    if path := _nul_field(request):
        raise InvalidArgument(
            "invalid_argument", f"{path} contains a NUL character", details={"fields": {path: ["contains NUL"]}}
        )
    return request


def _checked_stream(requests: Iterator[Message]) -> Iterator[Message]:
    for request in requests:
        yield _checked(request)


def _fail(context: grpc.ServicerContext, exc: Exception) -> None:
    """End the call with the error's status (raises, as `context.abort` does)."""
    if context.code() is not None:  # type: ignore[attr-defined]  # grpc-stubs lags grpcio (code() since 1.38)
        raise exc  # the call was aborted already: `abort` raises a bare Exception to unwind
    exc = outage(exc) or exc
    if isinstance(exc, DomainError):
        status.abort(context, exc)
    log.error("partner call failed", exc_info=exc)
    context.abort(grpc.StatusCode.INTERNAL, "internal error; it was logged")


def answer(public: bool = False, slot: bool = False, extra_rate: Callable[[], tuple[str, str]] | None = None):
    """A call answered with one message (unary, or a client stream).

    `slot`: it may hold its thread for long (a client stream, a wait), so it takes a stream slot.
    `extra_rate`: another (scope, rate) limit this call counts against, besides the partner's own.
    """

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, request, context):
            close_old_connections()
            try:
                with logs.log_context(order_id=_order_named(request), tenant=""):
                    return _call(self, request, context)
            except Exception as exc:
                _fail(context, exc)

        def _call(self, request, context):
            tenant = _tenant(context, public)
            if extra_rate is not None and tenant is not None:
                scope, rate = extra_rate()
                ratelimit.check(ratelimit.key(scope, tenant.pk), rate)
            request = _checked(request) if isinstance(request, Message) else _checked_stream(request)
            if not slot:
                return method(self, tenant, request, context)
            with self.streams.slot(tenant.pk):
                return method(self, tenant, request, context)

        return wrapper

    return decorate


def server_stream(method):
    """A call answered with a stream of messages: it holds its thread while it streams, so it takes a slot."""

    @functools.wraps(method)
    def wrapper(self, request, context):
        close_old_connections()
        try:
            with logs.log_context(order_id=_order_named(request), tenant=""):
                tenant = _tenant(context, public=False)
                with self.streams.slot(tenant.pk):
                    yield from method(self, tenant, _checked(request), context)
        except Exception as exc:
            _fail(context, exc)

    return wrapper

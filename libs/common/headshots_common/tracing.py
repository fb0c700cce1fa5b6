"""Traces: one per order, its context carried in Kafka record headers and gRPC metadata (W3C traceparent).

Exported by OTLP/HTTP when the standard OpenTelemetry variables configure an endpoint
(OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; OTEL_SERVICE_NAME names the service).
Without one nothing is set up: the OpenTelemetry API's no-op tracer records nothing and sends nothing, and
`order_trace` returns "" so no context travels.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence

from opentelemetry import context as otel_context, propagate, trace
from opentelemetry.trace import Span, SpanKind

tracer = trace.get_tracer("headshots")
TRACEPARENT = "traceparent"
_enabled = False


def enabled() -> bool:
    return _enabled


def configure_tracing(service: str) -> bool:
    """Export spans by OTLP when an endpoint is configured; returns whether tracing is on."""
    global _enabled
    if not (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or service})
    provider = TracerProvider(resource=resource)  # flushes its spans at exit
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # endpoint, headers: from the environment
    trace.set_tracer_provider(provider)
    _enabled = True
    return True


def order_trace(order_id: str, tenant: str) -> str:
    """Start an order's trace: a root span named for the order; returns its traceparent ("" when tracing is off).

    Every later span of the order (upload checks, training, render batches, webhook deliveries) is its child,
    whichever process records it, so one trace holds the order's whole life.
    """
    if not _enabled:
        return ""
    span = tracer.start_span(
        "order", context=otel_context.Context(), attributes={"order.id": order_id, "tenant": tenant}
    )
    span.end()
    return _traceparent_of(trace.set_span_in_context(span))


def _traceparent_of(ctx: otel_context.Context) -> str:
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=ctx)
    return carrier.get(TRACEPARENT, "")


def context_of(traceparent: str) -> otel_context.Context:
    return propagate.extract({TRACEPARENT: traceparent} if traceparent else {})


@contextlib.contextmanager
def span(
    name: str,
    traceparent: str = "",
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: dict | None = None,
) -> Iterator[Span]:
    """A span, child of `traceparent` when given (an order's trace), else of the current span."""
    if not _enabled:
        yield trace.INVALID_SPAN
        return
    ctx = context_of(traceparent) if traceparent else None
    with tracer.start_as_current_span(name, context=ctx, kind=kind, attributes=attributes or {}) as current:
        yield current


def current_traceparent() -> str:
    """The current span's context, to pass on (Kafka headers, gRPC metadata); "" when there is none."""
    if not _enabled:
        return ""
    return _traceparent_of(otel_context.get_current())


# -- Kafka record headers ----------------------------------------------------------------------------------------
def kafka_headers(traceparent: str) -> list[tuple[str, bytes]]:
    return [(TRACEPARENT, traceparent.encode())] if traceparent else []


def traceparent_from_kafka(headers: Iterable[tuple[str, bytes]] | None) -> str:
    for key, value in headers or ():
        if key == TRACEPARENT and value:
            return value.decode("ascii", "replace")
    return ""


# -- gRPC metadata --------------------------------------------------------------------------------------------------
def grpc_metadata(traceparent: str) -> list[tuple[str, str]]:
    return [(TRACEPARENT, traceparent)] if traceparent else []


def traceparent_from_grpc(metadata: Sequence[tuple[str, str | bytes]] | None) -> str:
    for key, value in metadata or ():
        if key == TRACEPARENT and value:
            return value if isinstance(value, str) else value.decode("ascii", "replace")
    return ""

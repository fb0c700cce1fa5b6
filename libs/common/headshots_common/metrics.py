"""Prometheus metrics every service shares: the scrape endpoint, Kafka consumer lag, gRPC server metrics.

Each process serves its metrics on HEADSHOTS_METRICS_PORT (0: none) at HEADSHOTS_METRICS_HOST (127.0.0.1 on a
laptop; the chart sets 0.0.0.0 so Prometheus reaches the pod). gRPC names follow go-grpc-prometheus, HTTP
names OpenTelemetry's semantic conventions as Prometheus writes them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from headshots_common.settings import env_int, env_str

log = logging.getLogger(__name__)

METRICS_PORT_ENV = "HEADSHOTS_METRICS_PORT"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

CONSUMER_LAG = Gauge(
    "kafka_consumer_lag_records",
    "Records in a partition not yet consumed by the group (high watermark minus the group's position)",
    ["group", "topic", "partition"],
    multiprocess_mode="max",
)
GRPC_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by status code",
    ["grpc_service", "grpc_method", "grpc_code"],
)
GRPC_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from receiving an RPC to its last response",
    ["grpc_service", "grpc_method"],
    buckets=LATENCY_BUCKETS,
)


def serve_metrics(registry: CollectorRegistry | None = None) -> int:
    """Serve /metrics on HEADSHOTS_METRICS_PORT (when set); returns the port (0: not served)."""
    port = env_int(METRICS_PORT_ENV, 0)
    if port:
        host = env_str("HEADSHOTS_METRICS_HOST", "127.0.0.1")
        start_http_server(port, addr=host, registry=registry or REGISTRY)
        log.info("metrics on http://%s:%d/metrics", host, port)
    return port


class ConsumerLag:
    """Publishes a consumer's lag per assigned partition, at most every `interval_s` (call it on each poll)."""

    def __init__(self, group: str, interval_s: float = 5.0):
        self.group = group
        self.interval_s = interval_s
        self._last = 0.0
        self._reported: set[tuple[str, int]] = set()

    def report(self, consumer: Any) -> None:
        now = time.monotonic()
        if now - self._last < self.interval_s:
            return
        self._last = now
        seen: set[tuple[str, int]] = set()
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)  # known once a fetch for the partition came back
            if highwater is None:
                continue
            try:
                position = consumer.position(tp, timeout_ms=1000)
            except Exception:  # a partition being revoked or a broker away: the next turn measures again
                continue
            if position is None:
                continue
            CONSUMER_LAG.labels(self.group, tp.topic, str(tp.partition)).set(max(0, highwater - position))
            seen.add((tp.topic, tp.partition))
        for topic, partition in self._reported - seen:  # partitions this consumer no longer owns
            CONSUMER_LAG.remove(self.group, topic, str(partition))
        self._reported = seen


class GrpcServerMetrics(grpc.ServerInterceptor):
    """Counts and times every RPC of a grpc.Server (grpc_server_handled_total, grpc_server_handling_seconds)."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        service, _, method = handler_call_details.method.lstrip("/").rpartition("/")
        if handler.unary_unary:
            return handler._replace(unary_unary=self._unary(handler.unary_unary, service, method))
        if handler.unary_stream:
            return handler._replace(unary_stream=self._streaming(handler.unary_stream, service, method))
        if handler.stream_unary:
            return handler._replace(stream_unary=self._unary(handler.stream_unary, service, method))
        return handler._replace(stream_stream=self._streaming(handler.stream_stream, service, method))

    @staticmethod
    def _record(service: str, method: str, context, started: float, failed: bool) -> None:
        code = context.code() if hasattr(context, "code") else None
        if code is None:
            code = grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK
        GRPC_HANDLED.labels(service, method, code.name).inc()
        GRPC_SECONDS.labels(service, method).observe(time.perf_counter() - started)

    def _unary(self, behaviour: Callable, service: str, method: str) -> Callable:
        def timed(request, context):
            started, failed = time.perf_counter(), True
            try:
                response = behaviour(request, context)
                failed = False
                return response
            finally:
                self._record(service, method, context, started, failed)

        return timed

    def _streaming(self, behaviour: Callable, service: str, method: str) -> Callable:
        def timed(request, context) -> Iterator:
            started, failed = time.perf_counter(), True
            try:
                yield from behaviour(request, context)
                failed = False
            finally:
                self._record(service, method, context, started, failed)

        return timed


class Sampler:
    """Runs `sample()` every `interval_s` on a daemon thread (gauges read from a database or a device)."""

    def __init__(self, sample: Callable[[], None], interval_s: float = 10.0, name: str = "metrics-sampler"):
        self._sample = sample
        self._interval_s = interval_s
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            try:
                self._sample()
            except Exception:  # a database or device away for a moment: try again next turn
                log.warning("sampling metrics failed", exc_info=True)
            time.sleep(self._interval_s)

"""The shared observability pieces on real components: consumer lag from a real broker, gRPC server metrics on a
real server, JSON log lines with the order and tenant of the work at hand, trace context in Kafka headers."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY

from headshots.v1 import events_pb2
from headshots_common import bus, logs, tracing
from headshots_common.metrics import ConsumerLag, GrpcServerMetrics


def _sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_consumer_lag_is_what_the_group_has_not_read_per_partition(kafka_bootstrap):
    topic = f"lag-{uuid.uuid4().hex[:8]}"
    bus.ensure_topics(kafka_bootstrap, [topic], partitions=1)
    publisher = bus.Publisher(kafka_bootstrap)
    for n in range(7):
        publisher.publish(topic, bus.new_event(f"order-{n}", order_deleted=events_pb2.OrderDeleted()))
    publisher.close()
    group = f"group-{uuid.uuid4().hex[:8]}"
    consumer = bus.make_consumer(kafka_bootstrap, group, [topic], max_poll_records=3)
    lag = ConsumerLag(group, interval_s=0)
    try:
        read, deadline = 0, time.monotonic() + 30
        while read < 3 and time.monotonic() < deadline:
            read += sum(len(records) for records in consumer.poll(timeout_ms=500).values())
        lag.report(consumer)
        assert read == 3
        assert _sample("kafka_consumer_lag_records", group=group, topic=topic, partition="0") == 4
        while read < 7 and time.monotonic() < deadline:
            read += sum(len(records) for records in consumer.poll(timeout_ms=500).values())
        lag.report(consumer)
        assert _sample("kafka_consumer_lag_records", group=group, topic=topic, partition="0") == 0
    finally:
        consumer.close()


def test_grpc_calls_are_counted_by_method_and_status_code():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), interceptors=[GrpcServerMetrics()])
    servicer = health.HealthServicer()
    servicer.set("known", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    labels = {"grpc_service": "grpc.health.v1.Health", "grpc_method": "Check"}
    ok_before = _sample("grpc_server_handled_total", **labels, grpc_code="OK")
    missing_before = _sample("grpc_server_handled_total", **labels, grpc_code="NOT_FOUND")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            stub.Check(health_pb2.HealthCheckRequest(service="known"), timeout=5)
            stub.Check(health_pb2.HealthCheckRequest(service="known"), timeout=5)
            try:
                stub.Check(health_pb2.HealthCheckRequest(service="unknown"), timeout=5)
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.NOT_FOUND
    finally:
        server.stop(grace=None)
    assert _sample("grpc_server_handled_total", **labels, grpc_code="OK") - ok_before == 2
    assert _sample("grpc_server_handled_total", **labels, grpc_code="NOT_FOUND") - missing_before == 1
    assert _sample("grpc_server_handling_seconds_count", **labels) >= 3


def test_log_lines_are_json_with_the_order_and_tenant_of_the_work_at_hand():
    stream = io.StringIO()
    handler = logs.json_handler("test-service")
    handler.setStream(stream)  # type: ignore[attr-defined]  # a StreamHandler
    logger = logging.getLogger(f"telemetry-test-{uuid.uuid4().hex[:6]}")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    with logs.log_context(order_id="order-1", tenant="tenant-1"):
        logger.info("training %s", "order-1")
        with logs.log_context(order_id="order-2"):
            logger.warning("nested")
    logger.info("outside")
    first, nested, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "training order-1" and first["level"] == "INFO" and first["service"] == "test-service"
    assert (first["order_id"], first["tenant"]) == ("order-1", "tenant-1")
    assert (nested["order_id"], nested["tenant"]) == ("order-2", "tenant-1")
    assert (outside["order_id"], outside["tenant"], outside["trace_id"]) == ("", "", "")


def test_trace_context_travels_in_kafka_headers_and_grpc_metadata():
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers = tracing.kafka_headers(traceparent)
    assert tracing.traceparent_from_kafka([("other", b"x"), *headers]) == traceparent
    assert tracing.traceparent_from_grpc([("authorization", "Bearer x"), *tracing.grpc_metadata(traceparent)]) == (
        traceparent
    )
    # Off (no exporter configured): nothing travels and nothing is recorded.
    assert tracing.kafka_headers("") == [] and tracing.traceparent_from_kafka(None) == ""
    assert not tracing.enabled() and tracing.order_trace("order-1", "tenant-1") == ""

"""Helpers for tests against the shared local stack (tests/conftest.py): the S3-compatible bucket."""

from __future__ import annotations


def boto_args(s3: dict[str, str]) -> dict[str, str]:
    return dict(
        endpoint_url=s3["AWS_ENDPOINT_URL"],
        aws_access_key_id=s3["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3["AWS_SECRET_ACCESS_KEY"],
        region_name=s3["AWS_DEFAULT_REGION"],
    )


def bucket_keys(s3: dict[str, str], bucket: str, prefix: str) -> list[str]:
    import boto3

    listing = boto3.client("s3", **boto_args(s3)).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", ())]


class OtlpTraceCollector:
    """An OTLP/HTTP trace receiver on 127.0.0.1 (what a collector or Jaeger would be in the cluster): the services
    export their spans to it by the standard OTEL_EXPORTER_OTLP_ENDPOINT, and tests read what arrived."""

    def __init__(self):
        import gzip
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        self.spans: list[dict] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                collector._add(request)
                reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _add(self, request) -> None:
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {}
                    for a in span.attributes:
                        value = a.value
                        attributes[a.key] = value.string_value or value.int_value or value.double_value
                    record = {
                        "service": resource.get("service.name", ""),
                        "name": span.name,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "attributes": attributes,
                    }
                    with self._lock:
                        self.spans.append(record)

    def trace(self, trace_id: str) -> list[dict]:
        with self._lock:
            return [s for s in self.spans if s["trace_id"] == trace_id]

    def find(self, name: str, **attributes) -> list[dict]:
        def matches(span: dict) -> bool:
            return span["name"] == name and all(span["attributes"].get(k) == v for k, v in attributes.items())

        with self._lock:
            return [s for s in self.spans if matches(s)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

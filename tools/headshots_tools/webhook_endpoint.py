"""A partner's webhook endpoint on the loopback, for tests and benchmarks: it records every request it receives
and answers as told (a status, a redirect, failures first, a delay).

It also checks every body it receives against the published schema of its event type (`webhook_schemas`,
docs/partners/webhooks/), and closing it fails with what did not validate: every webhook a test receives is one
the schemas partners read describe.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from headshots_tools import webhook_schemas


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: str
    at: float  # time.monotonic() when it arrived


class WebhookEndpoint:
    def __init__(
        self,
        status: int = 204,
        failures: int = 0,
        delay_s: float = 0.0,
        location: str = "",
        host: str = "127.0.0.1",
        raw: bytes = b"",
        check_schemas: bool = True,
    ):
        """Answers `status` (503 to the first `failures` requests) after `delay_s`; `location` for redirects;
        `raw`: these bytes instead of an HTTP answer (a broken server).

        `host` is the loopback address it listens on (any of 127.0.0.0/8): endpoints on different addresses are
        different hosts to the webhook senders' caps, as different partners' servers are.

        `check_schemas=False` only where the bodies are made up on purpose (a benchmark of delivery, not content).
        """
        self.requests: list[Received] = []
        self.schema_problems: list[str] = []
        self.max_in_flight = 0  # the most requests it was answering at once
        self._in_flight = 0
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                problems = webhook_schemas.problems(body.decode()) if check_schemas else []
                with endpoint._lock:
                    endpoint.schema_problems += problems
                    endpoint.requests.append(Received(self.path, dict(self.headers), body.decode(), time.monotonic()))
                    failing = len(endpoint.requests) <= failures
                    endpoint._in_flight += 1
                    endpoint.max_in_flight = max(endpoint.max_in_flight, endpoint._in_flight)
                try:
                    time.sleep(delay_s)
                    if raw:
                        self.wfile.write(raw)
                        self.close_connection = True
                        return
                    self.send_response(503 if failing else status)
                    if location:
                        self.send_header("Location", location)
                    self.end_headers()
                finally:
                    with endpoint._lock:
                        endpoint._in_flight -= 1

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.url = f"http://{host}:{self.port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop; AssertionError if a webhook received did not validate against its published schema."""
        self.server.shutdown()
        self.server.server_close()
        if self.schema_problems:
            raise AssertionError("webhooks that break their published schema:\n" + "\n".join(self.schema_problems))

    def __enter__(self) -> WebhookEndpoint:
        return self

    def __exit__(self, kind, *exc) -> None:
        if kind is None:
            self.close()
        else:  # the test's own failure says more than the schema's
            self.server.shutdown()
            self.server.server_close()

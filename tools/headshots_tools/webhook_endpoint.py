"""A partner's webhook endpoint on 127.0.0.1, for tests and benchmarks: it records every request it receives
and answers as told (a status, a redirect, failures first, a delay)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: str
    at: float  # time.monotonic() when it arrived


class WebhookEndpoint:
    def __init__(self, status: int = 204, failures: int = 0, delay_s: float = 0.0, location: str = ""):
        """Answers `status` (503 to the first `failures` requests) after `delay_s`; `location` for redirects."""
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with endpoint._lock:
                    endpoint.requests.append(Received(self.path, dict(self.headers), body.decode(), time.monotonic()))
                    failing = len(endpoint.requests) <= failures
                time.sleep(delay_s)
                self.send_response(503 if failing else status)
                if location:
                    self.send_header("Location", location)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> WebhookEndpoint:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

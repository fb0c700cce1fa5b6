"""A TCP proxy in front of an HTTP service that can take the service away for a while (chaos runs).

Between outages it forwards bytes both ways untouched. An outage cuts every connection open at its start, and
for its length answers every request that arrives `503 Service Unavailable` with S3's error body (what S3
answers when it sheds load) and closes the connection: nothing reaches the service behind it. Put in front
of the S3 server, every process that uses the blob store sees the outage exactly as it would see S3's.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

UNAVAILABLE_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(UNAVAILABLE_BODY), UNAVAILABLE_BODY)
)
CHUNK = 64 * 1024  # bytes forwarded per read


class FaultProxy:
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1", port: int = 0):
        self.target_host, self.target_port, self.host = target_host, target_port, host
        self.port = port  # 0: a free one, chosen when it starts
        self.refused = 0  # requests answered 503
        self._down_until = 0.0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()  # every connection open, both sides
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)

    # -- control (from any thread) -----------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, self.host, self.port), self._loop
        ).result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def outage(self, seconds: float) -> None:
        """From now on for `seconds`: connections open now are cut, requests answered 503."""
        self._down_until = time.monotonic() + seconds
        self._loop.call_soon_threadsafe(self._cut_all)

    @property
    def down(self) -> bool:
        return time.monotonic() < self._down_until

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            self._cut_all()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    # -- the proxy (on its event loop) -------------------------------------------------------------------------
    def _cut_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            if self.down:
                await self._refuse(reader, writer)
                return
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(self.target_host, self.target_port)
            except OSError:
                return
            self._writers.add(upstream_writer)
            try:
                await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))
            finally:
                self._writers.discard(upstream_writer)
                upstream_writer.transport.abort()
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        self.refused += 1
        with contextlib.suppress(OSError):
            writer.write(UNAVAILABLE)
            await writer.drain()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(CHUNK):
                writer.write(data)
                await writer.drain()
            writer.write_eof()

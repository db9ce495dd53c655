"""The daemon's HTTP endpoint, ``GET /metrics``, served on its own asyncio loop (no thread).

One registry (the watcher's, which the alert dispatcher and the backup
schedule share) rendered in Prometheus' text format.  It binds 127.0.0.1 by
default: the numbers say where every master is, which is nobody else's
business; put a proxy in front to expose it.  Every response closes its
connection (Prometheus scrapes every 15 s or so, a keep-alive saves nothing),
and a client gets :data:`REQUEST_TIMEOUT_S` to send its request head, so a
stalled one cannot hold a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from redisops.errors import UsageError

__all__ = ["MetricsEndpoint"]

log = logging.getLogger("redisops.watch")

#: a request head must arrive within this long
REQUEST_TIMEOUT_S = 5.0
#: ... and fit in this many lines (a scraper sends a handful of headers)
MAX_HEADER_LINES = 100


class MetricsEndpoint:
    """``/metrics`` of ``registry`` on ``host:port`` between :meth:`start` and :meth:`close`."""

    def __init__(self, registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> None:
        self.registry = registry
        self.host = host
        self.port = port  # the bound port once started (ask for 0 to let the system pick one)
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise UsageError(f"cannot serve /metrics on {self.host}:{self.port}: {reason}",
                             hint="pick another port (watch.metrics_port, or --metrics-port); 0 turns it off",
                             ) from exc
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path = await asyncio.wait_for(_request_head(reader), REQUEST_TIMEOUT_S)
            status, kind, body = self._answer(method, path)
            head = (f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n")
            writer.write(head.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError, ValueError):
            pass  # a client that stalls, hangs up or sends garbage gets nothing
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _answer(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain; charset=utf-8", b"GET /metrics\n"
        if path.split("?", 1)[0] == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(self.registry)
        return "404 Not Found", "text/plain; charset=utf-8", b"redisops: GET /metrics\n"


async def _request_head(reader: asyncio.StreamReader) -> tuple[str, str]:
    """``(method, path)`` of the request line; the headers are read and ignored."""
    words = (await reader.readline()).decode("latin-1").split()
    if len(words) != 3:
        raise ValueError("not an HTTP request line")
    for _ in range(MAX_HEADER_LINES):
        if (await reader.readline()).strip() == b"":
            return words[0], words[1]
    raise ValueError("too many header lines")

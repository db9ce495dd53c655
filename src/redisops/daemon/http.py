"""The daemon's HTTP endpoint, ``GET /metrics``, served on its own asyncio loop (no thread).

One registry (the watcher's, which the alert dispatcher and the backup
schedule share) rendered in Prometheus' text format.  It binds 127.0.0.1 by
default: the numbers say where every master is, which is nobody else's
business; put a proxy in front to expose it.  Every response closes its
connection (Prometheus scrapes every 15 s or so, a keep-alive saves nothing),
and a client gets :data:`REQUEST_TIMEOUT_S` to send its request head, so a
stalled one cannot hold a socket.

Every other path goes to the ``pages`` handler when there is one (the status
page, :mod:`redisops.daemon.page`), with the request's ``Host`` header so the
handler can refuse names that are not this machine's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from redisops.errors import UsageError

__all__ = ["MetricsEndpoint", "Pages", "Response"]

log = logging.getLogger("redisops.watch")

#: a request head must arrive within this long
REQUEST_TIMEOUT_S = 5.0
#: ... and fit in this many lines (a scraper sends a handful of headers)
MAX_HEADER_LINES = 100


@dataclass(frozen=True)
class Response:
    status: str  # "200 OK"
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()  # more header lines


class Pages(Protocol):
    """What answers the paths other than ``/metrics``: a :class:`Response`, or None for 404."""

    def answer(self, path: str, host: str | None) -> Response | None: ...


class MetricsEndpoint:
    """``/metrics`` of ``registry`` on ``host:port`` between :meth:`start` and :meth:`close`; other paths go
    to ``pages`` (the status page) when given."""

    def __init__(self, registry: CollectorRegistry, port: int, host: str = "127.0.0.1",
                 pages: Pages | None = None) -> None:
        self.registry = registry
        self.host = host
        self.port = port  # the bound port once started (ask for 0 to let the system pick one)
        self.pages = pages
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
        if self.pages is not None:
            log.info("status page on http://%s:%d/", self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path, host = await asyncio.wait_for(_request_head(reader), REQUEST_TIMEOUT_S)
            answer = self._answer(method, path, host)
            more = "".join(f"{name}: {value}\r\n" for name, value in answer.headers)
            head = (f"HTTP/1.1 {answer.status}\r\nContent-Type: {answer.content_type}\r\n"
                    f"Content-Length: {len(answer.body)}\r\n{more}Connection: close\r\n\r\n")
            writer.write(head.encode() + (b"" if method == "HEAD" else answer.body))
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError, ValueError):
            pass  # a client that stalls, hangs up or sends garbage gets nothing
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _answer(self, method: str, path: str, host: str | None) -> Response:
        usage = b"GET /metrics\n" if self.pages is None else b"GET /metrics, / (status page), /api/status\n"
        if method not in ("GET", "HEAD"):
            return Response("405 Method Not Allowed", "text/plain; charset=utf-8", usage)
        if path.split("?", 1)[0] == "/metrics":
            return Response("200 OK", CONTENT_TYPE_LATEST, generate_latest(self.registry))
        try:
            page = None if self.pages is None else self.pages.answer(path.split("?", 1)[0], host)
        except Exception:  # a page that fails must not take /metrics or the connection handling with it
            log.exception("the status page failed on %s", path)
            return Response("500 Internal Server Error", "text/plain; charset=utf-8",
                            b"redisops: the page failed; see the watcher's log\n")
        return page or Response("404 Not Found", "text/plain; charset=utf-8", b"redisops: " + usage)


async def _request_head(reader: asyncio.StreamReader) -> tuple[str, str, str | None]:
    """``(method, path, Host header)`` of the request; the other headers are read and ignored."""
    words = (await reader.readline()).decode("latin-1").split()
    if len(words) != 3:
        raise ValueError("not an HTTP request line")
    host = None
    for _ in range(MAX_HEADER_LINES):
        line = (await reader.readline()).decode("latin-1")
        if line.strip() == "":
            return words[0], words[1], host
        name, _, value = line.partition(":")
        if name.strip().lower() == "host":
            host = value.strip()
    raise ValueError("too many header lines")

"""Taking an RDB from a live node over the replication protocol, as ``redis-cli --rdb`` does.

The exchange: ``AUTH`` (when there is a password), ``REPLCONF rdb-only 1`` (7.0+:
the node forks a snapshot for us but will not then stream its write traffic;
older nodes answer an error, which we ignore), then ``SYNC``.  While the fork
writes the snapshot the node sends bare ``\\n`` keep-alives; then the payload
comes in one of two framings:

* ``$<length>\\r\\n`` + length bytes: disk-based snapshot (what a client that did
  not announce ``REPLCONF capa eof`` gets; the default here, as for redis-cli,
  because diskless sync first waits ``repl-diskless-sync-delay`` seconds);
* ``$EOF:<40 random bytes>\\r\\n`` + bytes + the same 40 bytes: diskless, length
  unknown in advance, the end recognised by the marker.

Because this needs no file access, it works on remote nodes, in containers and
on managed services that allow ``SYNC``.  The bytes go to ``sink`` in chunks as
they arrive: the caller compresses and uploads while the node is still
sending, so nothing holds the whole RDB in memory.  A transfer that ends early
raises :class:`FetchError` (never a short "successful" file).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass

from redisops.address import Address
from redisops.auth import Credential, auth_args, tls_of
from redisops.data.backup.errors import FetchError

__all__ = ["FetchResult", "fetch_rdb"]

CHUNK = 1 << 20
EOF_MARK_LEN = 40
Sink = Callable[[bytes], None]


@dataclass(frozen=True)
class FetchResult:
    size: int  # raw RDB bytes
    framing: str  # "length" or "eof-marker"


def fetch_rdb(address: Address, password: Credential, sink: Sink, *, timeout: float = 60.0,
              diskless: bool = False) -> FetchResult:
    """Stream the node's RDB snapshot into ``sink``; ``timeout`` bounds each read, not the transfer."""
    tls = tls_of(password)
    try:
        sock = socket.create_connection((address.host, address.port), timeout=timeout)
        if tls is not None:
            plain = sock
            try:
                sock = tls.context().wrap_socket(plain, server_hostname=address.host)
            except OSError:
                plain.close()
                raise
    except OSError as exc:  # ssl.SSLError is one too: a refused certificate
        raise FetchError(str(address), f"cannot connect ({exc.strerror or exc})") from exc
    stream = _Stream(sock, str(address))
    try:
        _handshake(stream, password, diskless)
        header = stream.payload_header()
        if header.startswith("EOF:"):
            return FetchResult(_copy_until_mark(stream, header[4:].encode(), sink), "eof-marker")
        if not header.isdigit():
            raise FetchError(str(address), f"unexpected reply {header[:60]!r}")
        _copy_exact(stream, int(header), sink)
        return FetchResult(int(header), "length")
    except OSError as exc:
        raise FetchError(str(address), f"{exc.strerror or exc}") from exc
    finally:
        sock.close()


def _handshake(stream: _Stream, password: Credential, diskless: bool) -> None:
    if password is not None:
        reply = stream.command("AUTH", *auth_args(password))
        if not reply.startswith("+"):
            raise FetchError(stream.name, f"authentication failed ({reply.strip('-')})")
    stream.command("REPLCONF", "rdb-only", "1")  # an error from a pre-7.0 node is fine
    if diskless:
        stream.command("REPLCONF", "capa", "eof")
    stream.send("SYNC")


def _copy_exact(stream: _Stream, length: int, sink: Sink) -> None:
    left = length
    while left:
        chunk = stream.read(min(CHUNK, left))
        sink(chunk)
        left -= len(chunk)


def _copy_until_mark(stream: _Stream, mark: bytes, sink: Sink) -> int:
    """Pass everything on but the last 40 bytes seen, which may be the start of the marker."""
    if len(mark) != EOF_MARK_LEN:
        raise FetchError(stream.name, "malformed EOF marker")
    held = b""
    size = 0
    while True:
        data = held + stream.read(CHUNK)
        if data.endswith(mark):
            body = data[:-EOF_MARK_LEN]
            sink(body)
            return size + len(body)
        held = data[-EOF_MARK_LEN:]
        body = data[:-EOF_MARK_LEN]
        if body:
            sink(body)
            size += len(body)


class _Stream:
    """A buffered socket: RESP lines for the handshake, raw bytes for the payload."""

    def __init__(self, sock: socket.socket, name: str) -> None:
        self.sock = sock
        self.name = name
        self.buffer = b""

    def send(self, *args: str) -> None:
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            raw = arg.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
        self.sock.sendall(b"".join(parts))

    def command(self, *args: str) -> str:
        self.send(*args)
        return self.line()

    def line(self) -> str:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line.decode(errors="replace")

    def payload_header(self) -> str:
        """Skip the ``\\n`` keep-alives sent while the node forks; return what follows ``$``."""
        while True:
            while not self.buffer:
                self._fill()
            if self.buffer[:1] == b"\n":
                self.buffer = self.buffer[1:]
                continue
            line = self.line()
            if line.startswith("-"):
                raise FetchError(self.name, line[1:])
            if not line.startswith("$"):
                raise FetchError(self.name, f"unexpected reply {line[:60]!r}")
            return line[1:]

    def read(self, most: int) -> bytes:
        if not self.buffer:
            self._fill()
        chunk, self.buffer = self.buffer[:most], self.buffer[most:]
        return chunk

    def _fill(self) -> None:
        data = self.sock.recv(CHUNK)
        if not data:
            raise FetchError(self.name, "connection closed before the end of the RDB (truncated)")
        self.buffer += data

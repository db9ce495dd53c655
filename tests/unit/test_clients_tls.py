"""The shared TLS client context (redisops.clients): one per set of files, a new one when a file changes, and the
connection classes use it; a real TLS handshake against a socket server proves it still checks the server."""

from __future__ import annotations

import os
import socket
import ssl
import threading
from pathlib import Path

import pytest
import redis

from redisops.address import Address
from redisops.auth import Login, TlsFiles
from redisops.clients import AsyncTlsConnection, TlsConnection, make_client, tls_context
from redisops.runtime.tls_layout import Layout
from redisops.security.tls import NodeIdentity, ensure_material


@pytest.fixture
def material(tmp_path: Path) -> Layout:
    ensure_material(tmp_path, "t", [NodeIdentity("n", ("127.0.0.1",))], ("redisops",))
    return Layout(tmp_path)


def test_one_context_per_files_and_a_new_one_when_a_file_changes(material: Layout) -> None:
    pair = material.client("redisops")
    first = tls_context(str(material.bundle), str(pair.cert), str(pair.key))
    assert tls_context(str(material.bundle), str(pair.cert), str(pair.key)) is first
    assert first.verify_mode is ssl.CERT_REQUIRED and first.check_hostname
    assert not first.get_ca_certs() or len(first.get_ca_certs()) == 1  # the deployment's CA, no system store
    loose = tls_context(str(material.bundle), check_hostname=False, verify=ssl.CERT_NONE)
    assert loose is not first and loose.verify_mode is ssl.CERT_NONE
    stat = pair.cert.stat()
    os.utime(pair.cert, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # renewed in place
    assert tls_context(str(material.bundle), str(pair.cert), str(pair.key)) is not first


def test_clients_over_tls_use_the_shared_context(material: Layout) -> None:
    pair = material.client("redisops")
    login = Login("admin", "pw", TlsFiles(str(material.bundle), str(pair.cert), str(pair.key)))
    client = make_client(Address("127.0.0.1", 1), login)
    assert client.connection_pool.connection_class is TlsConnection
    plain = make_client(Address("127.0.0.1", 1), Login("admin", "pw"))
    assert plain.connection_pool.connection_class is redis.Connection
    conn = AsyncTlsConnection(host="127.0.0.1", port=1, ssl_ca_certs=str(material.bundle),
                              ssl_certfile=str(pair.cert), ssl_keyfile=str(pair.key))
    assert conn.ssl_context.get() is tls_context(str(material.bundle), str(pair.cert), str(pair.key))


def _tls_server(material: Layout, name: str) -> tuple[socket.socket, threading.Thread, list[str]]:
    """A one-shot TLS server on loopback with node ``name``'s certificate, answering +PONG to anything."""
    node = material.node(name)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(str(node.cert), str(node.key))
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[str] = []

    def serve() -> None:
        listener.settimeout(10)
        try:
            raw, _ = listener.accept()
        except OSError:
            return
        try:
            with server_ctx.wrap_socket(raw, server_side=True) as conn:
                seen.append(conn.recv(1024).decode(errors="replace"))
                conn.sendall(b"+PONG\r\n")
        except (OSError, ssl.SSLError) as exc:
            seen.append(f"error: {exc}")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread, seen


def _handshake(port: int, ca: Path) -> str:
    """TlsConnection's own wrapping of a socket to ``port``: what the server answers to a PING."""
    conn = TlsConnection(host="127.0.0.1", port=port, ssl_ca_certs=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, conn._wrap_socket_with_ssl(raw) as tls:
        tls.sendall(b"PING\r\n")
        return tls.recv(64).decode()


def test_the_server_is_still_checked(material: Layout, tmp_path: Path) -> None:
    listener, thread, seen = _tls_server(material, "n")
    try:
        assert _handshake(listener.getsockname()[1], material.bundle) == "+PONG\r\n"
    finally:
        listener.close()
        thread.join(10)
    assert seen == ["PING\r\n"]

    # another CA: the same server's certificate is refused
    other = tmp_path / "other"
    ensure_material(other, "other", [NodeIdentity("n", ("127.0.0.1",))], ())
    listener, thread, seen = _tls_server(material, "n")
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(listener.getsockname()[1], Layout(other).bundle)
    finally:
        listener.close()
        thread.join(10)

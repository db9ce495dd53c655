"""Local stand-ins for alert channels: a recording HTTP server (Slack, Telegram via ``api_base``,
webhook, Alertmanager) and an aiosmtpd SMTP server with AUTH.  Shared by the alert tests and the
failover scenarios; every server is stopped by its fixture."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    """A port the kernel picks from its ephemeral range: never one of the harness' node ports (10000-29999),
    and never the same for two tests that run at once in different xdist workers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> str:
    """``/metrics`` of a watcher on 127.0.0.1:``port``; an AssertionError while it does not answer (for
    ``assert_eventually``)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return str(response.read().decode())
    except OSError as exc:
        raise AssertionError(f"/metrics: {exc}") from exc


@dataclass(frozen=True)
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when received

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Endpoint:
    """A recording HTTP server. ``fail_next`` requests get 503; ``echo_path`` answers 404 with the path
    (a hostile server that echoes the token back, to prove we scrub it)."""

    port: int = field(default_factory=free_port)
    fail_next: int = 0
    echo_path: bool = False
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Endpoint:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                endpoint._record(Recorded(self.path, dict(self.headers.items()), body, time.monotonic()))
                status, reply = endpoint._reply(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)

    def _record(self, request: Recorded) -> None:
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()

    def _reply(self, path: str) -> tuple[int, bytes]:
        with self._cond:
            if self.echo_path:
                return 404, json.dumps({"ok": False, "description": f"Not Found: {path}"}).encode()
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503, b'{"ok":false,"description":"try later"}'
        return 200, b'{"ok":true}'

    def wait_for(self, count: int, within: float = 5.0) -> list[Recorded]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.requests) >= count, timeout=within)
            return list(self.requests)

    def at(self, prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(prefix)]


class SmtpSink:
    """aiosmtpd on 127.0.0.1 with AUTH (user ``alerts``, password ``smtp-pass-123``): plain text, or with a
    server context ``mode="starttls"`` (STARTTLS required before AUTH) or ``mode="tls"`` (implicit TLS)."""

    USER, PASSWORD = "alerts", "smtp-pass-123"

    def __init__(self, context: ssl.SSLContext | None = None, mode: str = "plain") -> None:
        self.messages: list[tuple[str, list[str], bytes, float]] = []
        self.logins: list[str] = []
        self._cond = threading.Condition()
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                with sink._cond:
                    sink.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                                          time.monotonic()))
                    sink._cond.notify_all()
                return "250 OK"

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == (
                self.USER, self.PASSWORD)
            if ok:
                self.logins.append(data.login.decode())
            return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

        self.port = free_port()
        tls: dict[str, Any] = {"auth_require_tls": False}
        if mode == "starttls":
            tls = {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
        elif mode == "tls":
            tls = {"ssl_context": context, "auth_require_tls": False}
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, authenticator=authenticate,
                                     **tls)

    def wait_for(self, count: int, within: float = 5.0) -> list[tuple[str, list[str], bytes, float]]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.messages) >= count, timeout=within)
            return list(self.messages)


def self_signed(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A certificate for 127.0.0.1 (its own CA): the PEM path to trust, and a server context using it."""
    from datetime import datetime, timedelta, timezone
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return cert_path, context


def failover_chain(bodies: list[dict[str, Any]], killed: str) -> list[str]:
    """The failover incidents of webhook ``bodies`` (in arrival order), checked to be one killed master's.

    Each incident arrives firing once, then resolved once.  The first starts at ``killed``.  A further one
    is accepted only when it fails over the master the previous one promoted: Sentinel 7.0 with a 1 s
    down-after sometimes does that a second later (a sentinel's peers still answer "master down"), a real
    second failover the watcher must report.  The same failover told twice (three sentinels' +switch-master
    as two incidents) fails here.  Returns the incident keys."""
    states: dict[str, list[str]] = {}
    labels: dict[str, dict[str, str]] = {}
    for body in bodies:
        incident = body["incident"]
        states.setdefault(incident["key"], []).append(body["state"])
        labels[incident["key"]] = incident["labels"]
    assert all(s == ["firing", "resolved"] for s in states.values()), states
    keys = list(states)
    assert keys and labels[keys[0]]["old_master"] == killed, labels
    for before, after in zip(keys, keys[1:], strict=False):
        assert labels[after]["old_master"] == labels[before]["new_master"], labels
    return keys

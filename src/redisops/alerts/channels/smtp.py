"""Email over SMTP with :mod:`smtplib`: plain, STARTTLS or implicit TLS; optional AUTH.

The subject starts with ``[redisops]`` and the severity so mail filters can
route pages; the body is the plain-text rendering with the timeline.  SMTP
reply codes decide retries: 4xx are transient by definition (RFC 5321 §4.2.1),
5xx and a refused login need a config fix.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from redisops.alerts.channels.base import read_secret
from redisops.alerts.errors import DeliveryError
from redisops.alerts.model import Incident
from redisops.alerts.render import State, heading, scrub, text_body
from redisops.spec.alerts import EmailChannel

__all__ = ["Email", "email_message"]

# Failures looked up along the exception's MRO, most specific first: reason, retryable.
_FAILURES: dict[type[BaseException], tuple[str, bool]] = {
    smtplib.SMTPAuthenticationError: ("SMTP AUTH refused: check username_env / password_env", False),
    smtplib.SMTPNotSupportedError: ("the server does not support what the spec asks (STARTTLS or AUTH)", False),
    smtplib.SMTPRecipientsRefused: ("every recipient was refused", False),
    smtplib.SMTPSenderRefused: ("the sender address was refused", False),
    smtplib.SMTPServerDisconnected: ("the server closed the connection", True),
    ssl.SSLCertVerificationError: ("TLS certificate not trusted: for a private CA set ca_file", False),
    ssl.SSLError: ("TLS handshake failed", False),
    ConnectionRefusedError: ("connection refused", True),
    socket.timeout: ("timed out", True),
    socket.gaierror: ("host name not found", True),
    OSError: ("network error", True),
    smtplib.SMTPException: ("SMTP error", True),
}


def _classify(exc: BaseException) -> tuple[str, bool]:
    if isinstance(exc, smtplib.SMTPResponseException) and not isinstance(exc, smtplib.SMTPAuthenticationError):
        reply = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"SMTP {exc.smtp_code} {reply.strip()[:120]}", 400 <= exc.smtp_code < 500
    for cls in type(exc).__mro__:
        if cls in _FAILURES:
            reason, retryable = _FAILURES[cls]
            detail = getattr(exc, "smtp_code", None) or getattr(exc, "verify_message", None)
            return (f"{reason} ({detail})" if detail else reason), retryable
    return f"unexpected {type(exc).__name__}", False


def email_message(incident: Incident, state: State, sender: str, to: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[redisops] {heading(incident, state)}"
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="redisops")
    message["X-Redisops-Incident"] = incident.key
    message.set_content(text_body(incident, state) + "\n")
    return message


class Email:
    type = "email"

    def __init__(self, spec: EmailChannel, base_dir: Path, timeout: float) -> None:
        del timeout  # SMTP has its own (spec.timeout_s): servers greet slower than webhooks answer
        self.name = spec.label
        self._spec = spec
        self._ca_file = str(base_dir / spec.ca_file) if spec.ca_file else None
        self._login: tuple[str, str] | None = None
        if spec.username_env and spec.password_env:
            self._login = (read_secret(self.name, spec.username_env, None, base_dir, "SMTP user name"),
                           read_secret(self.name, spec.password_env, None, base_dir, "SMTP password"))

    def send(self, incident: Incident, state: State) -> None:
        message = email_message(incident, state, self._spec.sender, self._spec.to)
        try:
            with self._connect() as smtp:
                if self._spec.starttls:
                    smtp.starttls(context=self._tls_context())
                if self._login is not None:
                    smtp.login(*self._login)
                smtp.send_message(message, from_addr=self._spec.sender, to_addrs=self._spec.to)
        except (smtplib.SMTPException, OSError) as exc:
            reason, retryable = _classify(exc)
            secrets = self._login[1:] if self._login else ()
            raise DeliveryError(self.name, f"{self._spec.host}:{self._spec.port}: {scrub(reason, secrets)}",
                                retryable=retryable) from None

    def _connect(self) -> smtplib.SMTP:
        spec = self._spec
        if spec.tls:
            return smtplib.SMTP_SSL(spec.host, spec.port, timeout=spec.timeout_s, context=self._tls_context())
        return smtplib.SMTP(spec.host, spec.port, timeout=spec.timeout_s)

    def _tls_context(self) -> ssl.SSLContext:
        """Certificates are always verified (hostname included); ``ca_file`` only chooses whom to trust."""
        return ssl.create_default_context(cafile=self._ca_file)

    def open(self) -> None:
        """Nothing to prepare: each message opens its own short SMTP session (servers drop idle ones)."""

    def close(self) -> None:
        """Nothing to close."""

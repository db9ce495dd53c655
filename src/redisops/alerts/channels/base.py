"""What a channel is, where its secrets come from, and how HTTP failures become reasons.

A channel turns one incident into one request.  It raises
:class:`~redisops.alerts.errors.DeliveryError` with a printable reason and
whether a retry can help; the dispatcher owns retries, the outbox and rate
limits, so channels stay a page long each.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Protocol

import httpx

from redisops.alerts.errors import ChannelConfigError, DeliveryError
from redisops.alerts.model import Incident
from redisops.alerts.render import State, redact_url, scrub

__all__ = ["Channel", "HttpPoster", "read_secret", "read_url_secret"]


class Channel(Protocol):
    name: str
    type: str

    def open(self) -> None:
        """Prepare what the first send would otherwise pay for (an HTTP client loads CA
        certificates: about 100 ms); called once by the worker before it waits for alerts."""

    def send(self, incident: Incident, state: State) -> None:
        """Deliver one message or raise :class:`DeliveryError`."""

    def close(self) -> None: ...


def read_secret(channel: str, env: str | None, file: str | None, base_dir: Path, what: str) -> str:
    """The secret from its environment variable or file (relative to the spec); never echoed."""
    if env is not None:
        value = os.environ.get(env, "").strip()
        if not value:
            raise ChannelConfigError(channel, f"environment variable {env} ({what}) is not set",
                                     hint=f"export {env}=... before starting redisops")
        return value
    path = base_dir / (file or "")
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ChannelConfigError(channel, f"cannot read {what} file {path} ({exc.strerror or type(exc).__name__})") \
            from None
    if not value:
        raise ChannelConfigError(channel, f"{what} file {path} is empty")
    return value


def read_url_secret(channel: str, env: str | None, file: str | None, base_dir: Path, what: str) -> str:
    url = read_secret(channel, env, file, base_dir, what)
    source = f"environment variable {env}" if env else f"file {file}"
    if not url.startswith(("http://", "https://")) or not httpx.URL(url).host:
        raise ChannelConfigError(channel, f"{source} does not hold an http(s) URL ({what})")
    return url


# Transport failures, most specific first (looked up along the exception's MRO): reason, retryable.
_TRANSPORT: dict[type[BaseException], tuple[str, bool]] = {
    httpx.ConnectTimeout: ("connection timed out", True),
    httpx.ConnectError: ("connection failed", True),
    httpx.TimeoutException: ("timed out", True),
    httpx.UnsupportedProtocol: ("unsupported URL scheme", False),
    httpx.RemoteProtocolError: ("the server broke the HTTP protocol", True),
    httpx.TransportError: ("transport error", True),
    httpx.InvalidURL: ("invalid URL", False),
}
# 408 Request Timeout, 425 Too Early and 429 Too Many Requests pass with time; other 4xx need a config fix.
_RETRYABLE_4XX = frozenset({408, 425, 429})


def _transport_reason(exc: BaseException) -> tuple[str, bool]:
    for cls in type(exc).__mro__:
        if cls in _TRANSPORT:
            return _TRANSPORT[cls]
    return f"unexpected {type(exc).__name__}", False


class _ScrubSecrets(logging.Filter):
    """httpx logs ``HTTP Request: POST <full URL>`` at INFO, and for Slack and Telegram the URL is
    the secret; this filter on httpx's own loggers rewrites such records before any handler sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            clean = scrub(text, tuple(self.secrets))
            if clean != text:
                record.msg, record.args = clean, ()
        return True


_SCRUB = _ScrubSecrets()
_HTTP_LOGGERS = ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2")


def _guard_logs(secrets: tuple[str, ...]) -> None:
    _SCRUB.secrets.update(s for s in secrets if len(s) >= 4)
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _SCRUB not in logger.filters:
            logger.addFilter(_SCRUB)


class HttpPoster:
    """One keep-alive httpx client per channel: the second alert skips the TCP/TLS handshake."""

    def __init__(self, channel: str, timeout: float, secrets: tuple[str, ...]) -> None:
        self.channel = channel
        self.timeout = timeout
        self.secrets = secrets
        self._client: httpx.Client | None = None
        _guard_logs(secrets)

    def open(self) -> None:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, follow_redirects=False)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        self.open()
        assert self._client is not None
        where = redact_url(url)
        try:
            response = self._client.post(url, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            reason, retryable = _transport_reason(exc)
            detail = scrub(str(exc), (*self.secrets, url))
            raise DeliveryError(self.channel, f"{where}: {reason}" + (f" ({detail})" if detail else ""),
                                retryable=retryable) from None
        if response.is_success:
            return response
        snippet = scrub(response.text[:200].strip(), (*self.secrets, url))
        retryable = response.status_code >= 500 or response.status_code in _RETRYABLE_4XX
        raise DeliveryError(self.channel, f"{where}: HTTP {response.status_code} {response.reason_phrase}"
                            + (f": {snippet}" if snippet else ""), retryable=retryable)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

"""Redis clients for operations: one attempt per command, bounded timeouts.

redis-py 8 retries a failed command 10 times with exponential backoff by
default.  That hides a dead node for seconds: a status probe, a failover or a
drill must see the failure at once and decide itself what to do next.

Over TLS, redis-py builds an SSL context for every connection it opens, and
loads the system's whole CA store into it first (``ssl.create_default_context``:
about 50 ms here, holding the GIL) although the deployment's CA is all it then
trusts.  :class:`TlsConnection` and :class:`AsyncTlsConnection` share one context
per set of files instead, rebuilt when a file changes (``tls rotate``): a live
audit of 12 TLS nodes went from 0.50 s to 0.08 s (docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
import redis.asyncio.connection as aconnection
from redis.backoff import NoBackoff
from redis.retry import Retry

from redisops.address import Address
from redisops.auth import Credential, redis_kwargs

__all__ = ["AsyncTlsConnection", "TlsConnection", "connect", "make_client", "shared_tls", "tls_context"]


def _stamp(*files: str | None) -> tuple[int, ...]:
    out = []
    for name in files:
        try:
            out.append(os.stat(name).st_mtime_ns if name else 0)
        except OSError:
            out.append(-1)  # missing now: loading it says so
    return tuple(out)


@functools.lru_cache(maxsize=16)
def _context(ca: str, cert: str | None, key: str | None, check_hostname: bool, verify: ssl.VerifyMode,
             stamp: tuple[int, ...]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)  # the CA only: no system store
    context.check_hostname = check_hostname  # before verify_mode: CERT_NONE is refused while it is on
    context.verify_mode = verify
    if cert:
        context.load_cert_chain(cert, key)
    return context


def tls_context(ca: str, cert: str | None = None, key: str | None = None, *, check_hostname: bool = True,
                verify: ssl.VerifyMode = ssl.CERT_REQUIRED) -> ssl.SSLContext:
    """A client context trusting ``ca`` and showing ``cert``: shared while none of the files changed."""
    return _context(ca, cert, key, check_hostname, verify, _stamp(ca, cert, key))


def _verify_mode(value: Any) -> ssl.VerifyMode:
    if isinstance(value, str):
        return {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL}.get(value.lower(), ssl.CERT_REQUIRED)
    return ssl.VerifyMode(value) if value is not None else ssl.CERT_REQUIRED


class TlsConnection(redis.SSLConnection):
    """redis-py's ``SSLConnection`` with a shared context (see the module); settings redisops never sets (a CA
    path or data, OCSP, ciphers, verify flags) take redis-py's own path."""

    def _wrap_socket_with_ssl(self, sock: Any) -> ssl.SSLSocket:
        special = (self.ca_path, self.ca_data, self.ssl_validate_ocsp, self.ssl_validate_ocsp_stapled,
                   self.ssl_min_version, self.ssl_ciphers, self.certificate_password,
                   self.ssl_include_verify_flags, self.ssl_exclude_verify_flags)
        if self.ca_certs is None or any(special):
            return super()._wrap_socket_with_ssl(sock)  # type: ignore[no-untyped-call,no-any-return]
        context = tls_context(self.ca_certs, self.certfile, self.keyfile, check_hostname=bool(self.check_hostname),
                              verify=_verify_mode(self.cert_reqs))
        return context.wrap_socket(sock, server_hostname=self.host)


class AsyncTlsConnection(aconnection.SSLConnection):
    """The asyncio twin: its per-connection context is the shared one."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        ctx = self.ssl_context
        special = (ctx.ca_path, ctx.ca_data, ctx.min_version, ctx.ciphers, ctx.password, ctx.include_verify_flags,
                   ctx.exclude_verify_flags)
        if ctx.ca_certs is not None and not any(special):
            ctx.context = tls_context(ctx.ca_certs, ctx.certfile, ctx.keyfile, check_hostname=bool(ctx.check_hostname),
                                      verify=_verify_mode(ctx.cert_reqs))


def shared_tls(client: redis.Redis) -> redis.Redis:
    """``client`` (not yet connected) opening its TLS connections with the shared context."""
    pool = client.connection_pool
    if getattr(pool, "connection_class", None) is redis.SSLConnection:
        pool.connection_class = TlsConnection
    return client


def make_client(address: Address, credential: Credential, *, timeout: float = 3.0, decode: bool = True,
                **options: Any) -> redis.Redis:
    return shared_tls(redis.Redis(address.host, address.port, **redis_kwargs(credential), socket_timeout=timeout,
                                  socket_connect_timeout=min(timeout, 2.0), retry=Retry(NoBackoff(), 0),
                                  decode_responses=decode, **options))


@contextmanager
def connect(address: Address, credential: Credential, timeout: float = 3.0, *,
            decode: bool = True) -> Iterator[redis.Redis]:
    """A client closed when the block ends."""
    client = make_client(address, credential, timeout=timeout, decode=decode)
    try:
        yield client
    finally:
        client.close()

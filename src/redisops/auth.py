"""How redisops authenticates to a Redis server: an ACL user and its password, or the default user's password.

A :data:`Credential` travels wherever a password used to: from the secrets file
through targets and operations down to the few places that open a connection
(:mod:`redisops.clients`, the status probe, the cluster wire, the RDB fetch,
``MIGRATE``).  Those places alone look inside it, through :func:`login_parts`.

- a :class:`Login` names an ACL user: ``AUTH user password`` (a deployment
  hardened with ACL users, see :mod:`redisops.spec.secrets`);
- a bare ``str`` is the default user's password (``requirepass``): a legacy
  deployment, a sentinel, or a remote node given ``--password-env``;
- ``None``: no password.

Neither form shows its password in ``repr``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = ["Credential", "Login", "TlsFiles", "auth_args", "connection_kwargs", "login_parts", "migrate_auth",
           "redis_kwargs", "tls_of"]


@dataclass(frozen=True)
class TlsFiles:
    """A client's TLS: the CA bundle it trusts, and the certificate and key it shows (``tls-auth-clients yes``).

    The server's certificate is checked against the address connected to (its IP in the certificate's
    subject alternative names), as redis-cli and redis_exporter do."""

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def redis_kwargs(self) -> dict[str, Any]:
        """redis-py's keywords (``redis.Redis``, its asyncio twin, ``SSLConnection``)."""
        return {"ssl_ca_certs": self.ca_file, "ssl_certfile": self.cert_file, "ssl_keyfile": self.key_file,
                "ssl_cert_reqs": "required", "ssl_check_hostname": True}


@dataclass(frozen=True)
class Login:
    """An ACL user and its password; ``user`` None is the default user (a sentinel's requirepass); ``tls``: the
    connection is TLS, with these files."""

    user: str | None
    password: str | None = field(repr=False)
    tls: TlsFiles | None = None

    def __str__(self) -> str:  # a log line names the user, never the password
        return f"user {self.user or 'default'}" + (" over TLS" if self.tls else "")


Credential: TypeAlias = "str | Login | None"


def login_parts(credential: Credential) -> tuple[str | None, str | None]:
    """``(username, password)`` as redis-py's ``username=`` / ``password=`` and ``AUTH [user] password`` take them."""
    if isinstance(credential, Login):
        return credential.user, credential.password
    return None, credential


def tls_of(credential: Credential) -> TlsFiles | None:
    return credential.tls if isinstance(credential, Login) else None


def redis_kwargs(credential: Credential) -> dict[str, Any]:
    """``username``, ``password`` and, over TLS, ``ssl=True`` with the files: for ``redis.Redis`` and its asyncio
    twin (a ``Connection`` takes the same but ``ssl``: see :func:`tls_of`)."""
    username, password = login_parts(credential)
    tls = tls_of(credential)
    return {"username": username, "password": password, **({"ssl": True, **tls.redis_kwargs()} if tls else {})}


def connection_kwargs(credential: Credential) -> dict[str, Any]:
    """The same for a redis-py ``Connection`` / ``SSLConnection`` (pick the class with :func:`tls_of`)."""
    username, password = login_parts(credential)
    tls = tls_of(credential)
    return {"username": username, "password": password, **(tls.redis_kwargs() if tls else {})}


def auth_args(credential: Login | str) -> list[str]:
    """The arguments of ``AUTH``: ``[user, password]`` or ``[password]``."""
    if isinstance(credential, Login):
        return [credential.user, credential.password or ""] if credential.user else [credential.password or ""]
    return [credential]


def migrate_auth(credential: Login | str) -> list[str]:
    """``MIGRATE``'s auth arguments: ``AUTH2 user password`` for an ACL user, ``AUTH password`` for the default."""
    if isinstance(credential, Login) and credential.user:
        return ["AUTH2", credential.user, credential.password or ""]
    return ["AUTH", login_parts(credential)[1] or ""]

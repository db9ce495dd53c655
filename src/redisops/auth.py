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

from dataclasses import dataclass, field
from typing import TypeAlias

__all__ = ["Credential", "Login", "auth_args", "login_parts", "migrate_auth", "user_of"]


@dataclass(frozen=True)
class Login:
    """An ACL user and its password."""

    user: str
    password: str = field(repr=False)

    def __str__(self) -> str:  # a log line names the user, never the password
        return f"user {self.user}"


Credential: TypeAlias = "str | Login | None"


def login_parts(credential: Credential) -> tuple[str | None, str | None]:
    """``(username, password)`` as redis-py's ``username=`` / ``password=`` and ``AUTH [user] password`` take them."""
    if isinstance(credential, Login):
        return credential.user, credential.password
    return None, credential


def user_of(credential: Credential) -> str:
    """The user a credential authenticates as: its ACL user, or ``default``."""
    return credential.user if isinstance(credential, Login) else "default"


def auth_args(credential: Login | str) -> list[str]:
    """The arguments of ``AUTH``: ``[user, password]`` or ``[password]``."""
    return [credential.user, credential.password] if isinstance(credential, Login) else [credential]


def migrate_auth(credential: Login | str) -> list[str]:
    """``MIGRATE``'s auth arguments: ``AUTH2 user password`` for an ACL user, ``AUTH password`` for the default."""
    if isinstance(credential, Login):
        return ["AUTH2", credential.user, credential.password]
    return ["AUTH", credential]

"""A throwaway ACL user for one benchmark run, so the deployment's password never reaches a command line.

redis-benchmark 7.0 takes a password only as ``-a`` (or inside ``-u``): it reads
no environment variable (redis-cli's ``REDISCLI_AUTH`` is unknown to it) and no
file, and it does not blank its ``argv``, so whatever it is given there is
readable by every local user in ``ps`` and ``/proc/<pid>/cmdline`` while it
runs.  Rather than the deployment's password, it gets a user made for this run
alone: a random password, commands of the benchmark only (``+@all -@dangerous``
plus the ``CONFIG GET`` / ``CLUSTER NODES`` it asks at start), created with the
real password over our own connection on every node redis-benchmark will
reach, and deleted when the run ends, failed or not.  What ``ps`` shows is then
a credential worth nothing once the run is over.

A run killed before it deletes its user leaves it behind: the name carries the
host and the owning process (``redisops-bench-<host>-<pid>-<start time>``), and
every later run deletes, on the nodes it touches, the users of this host whose
owner is gone.  ACL changes are not replicated and live in memory: a restart
drops them, unless a ``CONFIG REWRITE`` (Sentinel runs one when it
reconfigures a node) copied a user into redis.conf during the run; such a line
is dropped by the same cleanup from the config files of the spec's nodes.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import redis

from redisops.address import Address
from redisops.auth import Credential, Login
from redisops.clients import connect
from redisops.errors import AuthError, NodeUnreachableError, RedisopsError
from redisops.runtime.processes import Owner
from redisops.spec.secrets import write_private

__all__ = ["PREFIX", "BenchUser", "bench_user", "owner_of"]

log = logging.getLogger(__name__)

PREFIX = "redisops-bench-"
#: what the benchmark's commands need; ``-@dangerous`` keeps FLUSHALL, KEYS, CONFIG SET, DEBUG ... out
RULES = ("reset", "on", "~*", "+@all", "-@dangerous", "+config|get", "+cluster|nodes", "+cluster|slots", "+info")


@dataclass(frozen=True)
class BenchUser:
    name: str
    password: str = field(repr=False)


def _host() -> str:
    return socket.gethostname().replace(" ", "_") or "host"


def user_name(owner: Owner) -> str:
    return f"{PREFIX}{_host()}-{owner.pid}-{owner.started}"


def owner_of(name: str) -> Owner | None:
    """The process that made a bench user of this host; None for other hosts' users and other names."""
    if not name.startswith(PREFIX):
        return None
    host, _, rest = name[len(PREFIX):].rpartition("-")
    host, _, pid = host.rpartition("-")
    if host != _host() or not pid.isdigit() or not rest.isdigit():
        return None
    return Owner(int(pid), int(rest))


@contextlib.contextmanager
def bench_user(nodes: Iterable[Address], password: Credential, *, confs: Mapping[Address, Path] | None = None,
               timeout: float = 3.0) -> Iterator[BenchUser | None]:
    """A user on every node for the block; None (nothing to hide) when the nodes have no password."""
    if password is None:
        yield None
        return
    user = BenchUser(user_name(Owner.me()), secrets.token_urlsafe(24))
    made: list[Address] = []
    try:
        for node in nodes:
            _create(node, password, user, timeout)
            made.append(node)
        yield user
    finally:
        for node in made:
            try:
                with connect(node, password, timeout) as client:
                    client.execute_command("ACL", "DELUSER", user.name)
            except redis.RedisError as exc:  # left for the next run's cleanup
                log.warning("could not delete benchmark user on %s: %s", node, exc)
        for conf in (confs or {}).values():
            _mend_conf(conf)


def _create(node: Address, password: Login | str, user: BenchUser, timeout: float) -> None:
    try:
        with connect(node, password, timeout) as client:
            _drop_orphans(client)
            client.execute_command("ACL", "SETUSER", user.name, *RULES, f">{user.password}")
    except redis.AuthenticationError as exc:
        raise AuthError(str(node), f"the node refused the password ({exc})",
                        hint="check admin_password (or redis_password) in the secrets file") from exc
    except redis.ResponseError as exc:
        raise RedisopsError(f"{node}: cannot create the benchmark's ACL user ({exc})",
                            hint="the password's user needs +acl|setuser and +acl|deluser") from exc
    except redis.RedisError as exc:
        raise NodeUnreachableError(str(node), f"{type(exc).__name__}: {exc}",
                                   hint="start it with `redisops up`, then check `redisops status`") from exc


def _drop_orphans(client: redis.Redis) -> None:
    for name in client.execute_command("ACL", "USERS"):
        owner = owner_of(str(name))
        if owner is not None and not owner.alive():
            client.execute_command("ACL", "DELUSER", str(name))


def _mend_conf(conf: Path) -> None:
    """Drop bench users of dead owners that a ``CONFIG REWRITE`` copied into a node's redis.conf."""
    try:
        lines = conf.read_text().splitlines(keepends=True)
    except OSError:
        return
    kept = [line for line in lines if not _orphan_line(line)]
    if len(kept) != len(lines):
        with contextlib.suppress(OSError):  # atomically, keeping the file's mode: Redis may read it at any time
            write_private(conf, "".join(kept), stat.S_IMODE(conf.stat().st_mode))


def _orphan_line(line: str) -> bool:
    words = line.split()
    if len(words) < 2 or words[0] != "user":
        return False
    owner = owner_of(words[1])
    return owner is not None and (owner == Owner.me() or not owner.alive())

"""Asking live nodes, read-only and in parallel.

Every node gets one short-lived connection and one pipeline: all its commands
are written at once and the replies read back, so a probe costs one round trip
after AUTH, and a whole deployment costs about as long as its slowest node.
Connect and read timeouts are both ``timeout`` and nothing is retried: a
status that waits for a dead node is worse than one that says it is dead.

A node that cannot be asked becomes a value with a
:class:`~redisops.topology.model.Failure` (refused, timed out, wrong password),
never an exception, so one dead node does not hide what the others say.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from redis import exceptions as rx
from redis.asyncio.connection import Connection
from redis.backoff import NoBackoff
from redis.retry import Retry

from redisops.address import Address
from redisops.auth import Credential, connection_kwargs, tls_of
from redisops.clients import AsyncTlsConnection
from redisops.topology.model import ClusterProbe, ErrorReply, Failure, FailureKind, NodeInfo, SentinelView
from redisops.topology.parse import (
    cluster_probe,
    data_node,
    keys_in_keyspace,
    mark_loading,
    parse_info,
    sentinel_view,
)
from redisops.topology.targets import ClusterTarget

__all__ = [
    "ask",
    "describe_failure",
    "probe_cluster",
    "probe_cluster_node",
    "probe_data_node",
    "probe_sentinel",
]

log = logging.getLogger(__name__)

Command = tuple[str, ...]
DATA_COMMANDS: tuple[Command, ...] = (("INFO", "replication"), ("INFO", "keyspace"), ("INFO", "persistence"))
CLUSTER_COMMANDS: tuple[Command, ...] = (("CLUSTER", "NODES"), ("CLUSTER", "INFO"), ("DBSIZE",),
                                         ("INFO", "replication"), ("INFO", "persistence"))
#: discovery rounds, for cluster nodes and for sentinels alike: the seeds (or listed sentinels), the peers they
#: name, then peers only those know
DISCOVERY_ROUNDS = 3


def sentinel_commands(name: str) -> tuple[Command, ...]:
    subcommands = ("GET-MASTER-ADDR-BY-NAME", "MASTER", "CKQUORUM", "REPLICAS")
    return tuple(("SENTINEL", sub, name) for sub in subcommands)


async def ask(address: Address, password: Credential, commands: Sequence[Command],
              timeout: float) -> list[Any]:
    """Send ``commands`` in one pipeline on a fresh connection; return the replies.

    An error reply to one command becomes an :class:`ErrorReply` in its place;
    failing to connect or authenticate raises the redis-py error.
    """
    kind = AsyncTlsConnection if tls_of(password) else Connection
    conn = kind(host=address.host, port=address.port, **connection_kwargs(password), socket_timeout=timeout,
                socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0), decode_responses=True,
                protocol=2, driver_info=None)
    try:
        await conn.connect()
        await conn.send_packed_command(conn.pack_commands(commands))
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(await conn.read_response())
            except rx.ResponseError as exc:
                replies.append(ErrorReply(str(exc)))
        return replies
    finally:
        await conn.disconnect()


async def probe_data_node(address: Address, password: Credential, timeout: float) -> NodeInfo:
    try:
        repl, keyspace, persistence = await ask(address, password, DATA_COMMANDS, timeout)
    except Exception as exc:
        return NodeInfo(address, _failed(address, exc, password))
    if isinstance(repl, ErrorReply):
        return NodeInfo(address, _reply_failure(repl))
    keys = keys_in_keyspace(parse_info(keyspace)) if isinstance(keyspace, str) else None
    return mark_loading(data_node(address, parse_info(repl), keys), persistence)


async def probe_sentinel(address: Address, name: str, password: Credential, timeout: float) -> SentinelView:
    try:
        replies = await ask(address, password, sentinel_commands(name), timeout)
    except Exception as exc:
        return SentinelView(address, _failed(address, exc, password))
    return sentinel_view(address, name, replies)


async def probe_cluster_node(address: Address, password: Credential, timeout: float) -> ClusterProbe:
    try:
        replies = await ask(address, password, CLUSTER_COMMANDS, timeout)
    except Exception as exc:
        return ClusterProbe(NodeInfo(address, _failed(address, exc, password)))
    if isinstance(replies[0], ErrorReply) and not replies[0].message.startswith("LOADING"):
        return ClusterProbe(NodeInfo(address, _reply_failure(replies[0])))
    return cluster_probe(address, replies)


async def probe_cluster(target: ClusterTarget, timeout: float) -> tuple[ClusterProbe, ...]:
    """The seeds, then every node their CLUSTER NODES name, until no new address turns up."""
    probes: dict[Address, ClusterProbe] = {}
    pending = list(dict.fromkeys(target.seeds))
    for _ in range(DISCOVERY_ROUNDS):
        results = await asyncio.gather(*(probe_cluster_node(a, target.password, timeout) for a in pending))
        probes.update(zip(pending, results, strict=True))
        named = {n.address for p in results for n in p.nodes if n.address is not None}
        pending = sorted(named - probes.keys())
        if not pending:
            break
    return tuple(probes.values())


def describe_failure(exc: BaseException, password: Credential) -> Failure:
    """A redis-py / socket error -> what the operator needs to know, via the first matching type."""
    for kind, describe in _FAILURES:
        if isinstance(exc, kind):
            return describe(exc, password)
    raise exc


def _failed(address: Address, exc: Exception, password: Credential) -> Failure:
    failure = describe_failure(exc, password)
    log.debug("probe of %s failed: %s (%s: %s)", address, failure.detail, type(exc).__name__, exc)
    return failure


def _auth_failure(exc: BaseException, password: Credential) -> Failure:
    text = str(exc)
    if "without any password configured" in text:
        return Failure(FailureKind.AUTH, "password given but the node has none")
    if password is None or "required" in text.lower():
        return Failure(FailureKind.AUTH, "password required")
    return Failure(FailureKind.AUTH, "wrong password")


#: errno in redis-py's "Error 111 connecting to host:port. ..." messages
_ERRNO = {111: "connection refused", 110: "timed out", 113: "no route to host", 101: "network unreachable",
          -2: "unknown host", -3: "unknown host", -5: "unknown host"}


def _connection_failure(exc: BaseException, _password: Credential) -> Failure:
    text = str(exc)
    match = re.match(r"Error (-?\d+) ", text)
    if match and int(match.group(1)) in _ERRNO:
        return Failure(FailureKind.UNREACHABLE, _ERRNO[int(match.group(1))])
    if "closed" in text.lower():
        return Failure(FailureKind.UNREACHABLE, "connection closed")
    return Failure(FailureKind.UNREACHABLE, text.rstrip("."))


def _reply_failure(reply: ErrorReply) -> Failure:
    if reply.message.startswith("NOPERM"):
        return Failure(FailureKind.AUTH, f"no permission ({reply.message})")
    if "cluster support disabled" in reply.message:
        return Failure(FailureKind.ERROR, "not a cluster node")
    return Failure(FailureKind.ERROR, reply.message)


def _fixed(kind: FailureKind, detail: str) -> Callable[[BaseException, Credential], Failure]:
    return lambda _exc, _password: Failure(kind, detail)


#: order matters: AuthenticationError and BusyLoadingError are ConnectionErrors
_FAILURES: tuple[tuple[type[BaseException], Callable[[BaseException, Credential], Failure]], ...] = (
    (rx.AuthenticationError, _auth_failure),
    (rx.BusyLoadingError, _fixed(FailureKind.ERROR, "loading its dataset")),
    (rx.TimeoutError, _fixed(FailureKind.UNREACHABLE, "timed out")),
    (asyncio.TimeoutError, _fixed(FailureKind.UNREACHABLE, "timed out")),
    (rx.InvalidResponse, _fixed(FailureKind.ERROR, "not a Redis server (protocol error)")),
    (rx.ConnectionError, _connection_failure),
    (rx.ResponseError, lambda exc, _p: _reply_failure(ErrorReply(str(exc)))),
    (rx.RedisError, lambda exc, _p: Failure(FailureKind.ERROR, str(exc))),
    (OSError, lambda exc, _p: Failure(FailureKind.UNREACHABLE, str(exc))),
)

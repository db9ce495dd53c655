"""Pure parsers: reply text of INFO, CLUSTER NODES and SENTINEL commands -> model values.

Replies arrive decoded (RESP2, ``decode_responses=True``).  An error reply to
one pipelined command is an :class:`~redisops.topology.model.ErrorReply`, so a
sentinel that rejects ``CKQUORUM`` still reports its master.  Parsers are
lenient about fields they do not need: Redis adds INFO fields between versions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from redisops.address import Address
from redisops.topology.model import (
    ClusterNode,
    ClusterProbe,
    ErrorReply,
    Failure,
    FailureKind,
    Loading,
    NodeInfo,
    ReplicaLink,
    Role,
    SentinelView,
)

__all__ = [
    "cluster_probe",
    "data_node",
    "keys_in_keyspace",
    "loading_state",
    "mark_loading",
    "parse_cluster_nodes",
    "parse_info",
    "parse_node_address",
    "parse_replica_links",
    "reply_pairs",
    "sentinel_view",
]

_ROLES = {"master": Role.MASTER, "slave": Role.REPLICA, "sentinel": Role.SENTINEL}


def parse_info(text: str) -> dict[str, str]:
    """``INFO`` / ``CLUSTER INFO`` text -> flat ``{field: value}`` (section headers dropped)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, sep, value = line.partition(":")
            if sep:
                out[key] = value.strip()
    return out


def parse_replica_links(info: Mapping[str, str]) -> tuple[ReplicaLink, ...]:
    """A master's ``slaveN:ip=..,port=..,state=..,offset=..,lag=..`` lines, in N order."""
    links = []
    keys = [k for k in info if k.startswith("slave") and k[5:].isdigit()]
    for key in sorted(keys, key=lambda k: int(k[5:])):
        fields = dict(part.partition("=")[::2] for part in info[key].split(","))
        links.append(ReplicaLink(Address(fields["ip"], int(fields["port"])), fields.get("state", ""),
                                 int(fields.get("offset", 0)), int(fields.get("lag", 0))))
    return tuple(links)


def keys_in_keyspace(info: Mapping[str, str]) -> int:
    """Sum of ``keys=`` over ``dbN:keys=..,expires=..`` lines (0 when the keyspace is empty)."""
    total = 0
    for key, value in info.items():
        if key.startswith("db") and key[2:].isdigit():
            fields = dict(part.partition("=")[::2] for part in value.split(","))
            total += int(fields.get("keys", 0))
    return total


def data_node(address: Address, info: Mapping[str, str], keys: int | None = None) -> NodeInfo:
    """A node from its ``INFO replication`` fields and its key count (INFO keyspace or DBSIZE)."""
    role = _ROLES.get(info.get("role", ""), Role.UNKNOWN)
    if role is not Role.REPLICA:
        return NodeInfo(address, role=role, keys=keys, offset=_int(info.get("master_repl_offset")),
                        replicas=parse_replica_links(info))
    last_io = _int(info.get("master_last_io_seconds_ago"))
    return NodeInfo(
        address,
        role=role,
        keys=keys,
        master=Address(info["master_host"], int(info["master_port"])) if "master_host" in info else None,
        link_up=info.get("master_link_status") == "up",
        syncing=info.get("master_sync_in_progress") == "1",
        offset=_int(info.get("slave_repl_offset")),
        last_io_seconds=last_io if last_io is not None and last_io >= 0 else None,
    )


def loading_state(info: Mapping[str, object]) -> Loading | None:
    """``INFO persistence`` fields -> :class:`Loading` while ``loading:1``, else None.

    Takes our :func:`parse_info` strings as well as redis-py's parsed ``info()`` (numbers already).
    """
    if str(info.get("loading")) != "1":
        return None
    try:
        percent = float(str(info.get("loading_loaded_perc", 0)))
    except ValueError:
        percent = 0.0
    return Loading(percent, _int(_str(info.get("loading_eta_seconds"))),
                   _int(_str(info.get("loading_loaded_bytes"))) or 0)


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def mark_loading(node: NodeInfo, persistence: Any) -> NodeInfo:
    """``node`` flagged as loading when its ``INFO persistence`` reply says so (a failure: it serves nothing)."""
    loading = loading_state(parse_info(persistence)) if isinstance(persistence, str) else None
    if loading is None:
        return node
    return replace(node, failure=Failure(FailureKind.ERROR, str(loading)), loading=loading)


def reply_pairs(reply: Sequence[Any]) -> dict[str, str]:
    """A flat ``[k1, v1, k2, v2, ...]`` reply (SENTINEL MASTER / REPLICAS) -> dict."""
    return {str(reply[i]): str(reply[i + 1]) for i in range(0, len(reply) - 1, 2)}


def sentinel_view(address: Address, name: str, replies: Sequence[Any]) -> SentinelView:
    """From the replies to GET-MASTER-ADDR-BY-NAME, MASTER, CKQUORUM, REPLICAS (in that order)."""
    addr, master, ckquorum, replicas = replies
    if isinstance(master, ErrorReply):
        return SentinelView(address, Failure(FailureKind.ERROR, _no_such_master(name, master)))
    fields = reply_pairs(master)
    ok = not isinstance(ckquorum, ErrorReply) and str(ckquorum).startswith("OK")
    return SentinelView(
        address,
        master=Address(addr[0], int(addr[1])) if isinstance(addr, list) and len(addr) == 2 else None,
        flags=frozenset(fields.get("flags", "").split(",")) - {""},
        num_slaves=_int(fields.get("num-slaves")),
        num_other_sentinels=_int(fields.get("num-other-sentinels")),
        quorum=_int(fields.get("quorum")),
        ckquorum_ok=ok,
        ckquorum=str(ckquorum),
        replicas=() if isinstance(replicas, ErrorReply) else tuple(_replica_address(r) for r in replicas),
    )


def parse_node_address(text: str) -> Address | None:
    """``ip:port@cport[,hostname]`` -> Address; ``:0@0`` (noaddr) -> None.  IPv6 keeps its colons."""
    host, _, port = text.split(",", 1)[0].split("@", 1)[0].rpartition(":")
    if not host or not port.isdigit() or port == "0":
        return None
    return Address(host, int(port))


def parse_cluster_nodes(text: str) -> tuple[ClusterNode, ...]:
    """``CLUSTER NODES`` text -> one :class:`ClusterNode` per line.

    Fields: id, address, flags, master id or ``-``, ping-sent, pong-recv,
    config-epoch, link-state, then slots: ``0-5460``, ``7000``, or markers
    ``[slot->-id]`` / ``[slot-<-id]`` of a resharding in progress (skipped).
    """
    nodes = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        slots = tuple(_slot_range(p) for p in parts[8:] if not p.startswith("["))
        nodes.append(ClusterNode(
            id=parts[0],
            address=parse_node_address(parts[1]),
            flags=frozenset(parts[2].split(",")) - {"noflags"},
            master_id=None if parts[3] == "-" else parts[3],
            config_epoch=int(parts[6]),
            link_state=parts[7],
            slots=slots,
        ))
    return tuple(nodes)


def cluster_probe(address: Address, replies: Sequence[Any]) -> ClusterProbe:
    """From the replies to CLUSTER NODES, CLUSTER INFO, DBSIZE, INFO replication, INFO persistence (in that order).

    A node still loading its dataset answers ``-LOADING`` to CLUSTER NODES but
    INFO still works: it becomes a failure that says how far the load is.
    """
    nodes_text, info_text, dbsize, repl_text, persistence = replies
    info = parse_info(info_text) if isinstance(info_text, str) else {}
    repl = parse_info(repl_text) if isinstance(repl_text, str) else {}
    keys = dbsize if isinstance(dbsize, int) else None
    node = mark_loading(data_node(address, repl, keys), persistence)
    if node.loading is not None:
        return ClusterProbe(node)
    return ClusterProbe(
        node=node,
        nodes=parse_cluster_nodes(nodes_text) if isinstance(nodes_text, str) else (),
        state=info.get("cluster_state"),
        current_epoch=_int(info.get("cluster_current_epoch")),
        slots_assigned=_int(info.get("cluster_slots_assigned")),
    )


def _slot_range(text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    return int(first), int(last or first)


def _replica_address(reply: Sequence[Any]) -> Address:
    fields = reply_pairs(reply)
    return Address(fields["ip"], int(fields["port"]))


def _no_such_master(name: str, error: ErrorReply) -> str:
    if "No such master" in error.message:
        return f"does not monitor {name}"
    return error.message


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None

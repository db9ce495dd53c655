"""Pure parsers: one per reply kind (INFO, CLUSTER NODES / SLOTS, SENTINEL ...) -> model values.

Every caller that reads one of these replies parses it here, whichever client
fetched it: the probes' pipelines (RESP2, decoded), redis-py clients (RESP3 by
default since redis-py 8: field/value replies come as dicts, not flat lists),
the mover's hiredis pipe (bytes).  :func:`reply_pairs` folds those shapes into
one.  An error reply to one pipelined command is an
:class:`~redisops.topology.model.ErrorReply`, so a sentinel that rejects
``CKQUORUM`` still reports its master.  Parsers are lenient about fields they do
not need: Redis adds INFO and SENTINEL fields between versions.
"""

from __future__ import annotations

import re
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
    OpenSlot,
    ReplicaLink,
    Role,
    SentinelMaster,
    SentinelPeer,
    SentinelReplica,
    SentinelView,
    SlotMap,
)

__all__ = [
    "cluster_probe",
    "data_node",
    "keys_in_keyspace",
    "loading_state",
    "mark_loading",
    "parse_cluster_nodes",
    "parse_cluster_slots",
    "parse_info",
    "parse_master_addr",
    "parse_node_address",
    "parse_open_slots",
    "parse_replica_links",
    "parse_sentinel_master",
    "parse_sentinel_peers",
    "parse_sentinel_replicas",
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


def reply_pairs(reply: Any) -> dict[str, str]:
    """A field/value reply in any shape -> ``{field: value}`` text; anything else (an error, nil) -> ``{}``.

    RESP2 sends SENTINEL MASTER, each SENTINEL REPLICAS / SENTINELS entry and each
    CLUSTER GETSLOTMIGRATIONS entry as a flat ``[k1, v1, k2, v2, ...]`` list; RESP3
    sends a map, which redis-py hands over as a dict.  Without ``decode_responses``
    both hold bytes.
    """
    if isinstance(reply, Mapping):
        return {_text(k): _text(v) for k, v in reply.items()}
    if isinstance(reply, (list, tuple)):
        return {_text(reply[i]): _text(reply[i + 1]) for i in range(0, len(reply) - 1, 2)}
    return {}


def parse_master_addr(reply: Any) -> Address | None:
    """``SENTINEL GET-MASTER-ADDR-BY-NAME`` -> the address; nil (unknown name) or an error -> None."""
    if isinstance(reply, (list, tuple)) and len(reply) == 2:
        return _address(_text(reply[0]), _text(reply[1]))
    return None


def parse_sentinel_master(name: str, reply: Any) -> SentinelMaster:
    """``SENTINEL MASTER <name>`` -> the master and settings as this sentinel has them."""
    fields = reply_pairs(reply)
    return SentinelMaster(
        name=fields.get("name", name),
        address=_address(fields.get("ip"), fields.get("port")),
        flags=_flags(fields.get("flags")),
        config_epoch=_int(fields.get("config-epoch")),
        num_slaves=_int(fields.get("num-slaves")),
        num_other_sentinels=_int(fields.get("num-other-sentinels")),
        quorum=_int(fields.get("quorum")),
        down_after_ms=_int(fields.get("down-after-milliseconds")),
        failover_timeout_ms=_int(fields.get("failover-timeout")),
        parallel_syncs=_int(fields.get("parallel-syncs")),
    )


def parse_sentinel_replicas(reply: Any) -> tuple[SentinelReplica, ...]:
    """``SENTINEL REPLICAS <name>`` -> the replicas the sentinel knows; an error reply -> none."""
    if not isinstance(reply, (list, tuple)):
        return ()
    replicas = []
    for entry in reply:
        fields = reply_pairs(entry)
        address = _address(fields.get("ip"), fields.get("port"))
        if address is not None:
            priority = _int(fields.get("slave-priority"))
            replicas.append(SentinelReplica(address, _flags(fields.get("flags")),
                                            100 if priority is None else priority))
    return tuple(replicas)


def parse_sentinel_peers(reply: Any) -> tuple[SentinelPeer, ...]:
    """``SENTINEL SENTINELS <name>`` -> peers; an error reply -> none.

    An entry with port 0 is skipped: that is how Sentinel marks the old entry
    of an address a sentinel with a new run id took over
    (``+sentinel-invalid-addr``), not a sentinel anyone can ask.
    """
    if not isinstance(reply, (list, tuple)):
        return ()
    peers = []
    for entry in reply:
        fields = reply_pairs(entry)
        address = _address(fields.get("ip"), fields.get("port"))
        if address is not None:
            peers.append(SentinelPeer(address, fields.get("runid", ""), _flags(fields.get("flags"))))
    return tuple(peers)


def sentinel_view(address: Address, name: str, replies: Sequence[Any]) -> SentinelView:
    """From the replies to GET-MASTER-ADDR-BY-NAME, MASTER, CKQUORUM, REPLICAS (in that order)."""
    addr, master, ckquorum, replicas = replies
    if isinstance(master, ErrorReply):
        return SentinelView(address, Failure(FailureKind.ERROR, _no_such_master(name, master)))
    state = parse_sentinel_master(name, master)
    ok = not isinstance(ckquorum, ErrorReply) and str(ckquorum).startswith("OK")
    return SentinelView(
        address,
        master=parse_master_addr(addr),
        flags=state.flags,
        num_slaves=state.num_slaves,
        num_other_sentinels=state.num_other_sentinels,
        quorum=state.quorum,
        ckquorum_ok=ok,
        ckquorum=str(ckquorum),
        replicas=tuple(r.address for r in parse_sentinel_replicas(replicas)),
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
    ``[slot->-id]`` / ``[slot-<-id]`` of a resharding in progress (kept apart,
    as :attr:`ClusterNode.open_slots`: the slot still belongs to its owner).
    """
    nodes = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        markers = [m for m in (_MARKER.fullmatch(p) for p in parts[8:]) if m is not None]
        nodes.append(ClusterNode(
            id=parts[0],
            address=parse_node_address(parts[1]),
            flags=frozenset(parts[2].split(",")) - {"noflags"},
            master_id=None if parts[3] == "-" else parts[3],
            config_epoch=int(parts[6]),
            link_state=parts[7],
            slots=tuple(_slot_range(p) for p in parts[8:] if not p.startswith("[")),
            open_slots=tuple(_open_slot(parts[0], m) for m in markers),
        ))
    return tuple(nodes)


def parse_open_slots(text: str) -> tuple[OpenSlot, ...]:
    """The resharding markers of one node's ``CLUSTER NODES``: those on its ``myself`` line."""
    return next((n.open_slots for n in parse_cluster_nodes(text) if n.myself), ())


def parse_cluster_slots(reply: Any) -> SlotMap:
    """``CLUSTER SLOTS`` (``[[first, last, [ip, port, id, ...], replicas...], ...]``) -> who owns what.

    Entries without the master's id (Redis before 4.0 sent only ip and port) are
    skipped; ids may come as bytes (the mover's hiredis pipe).
    """
    ranges = []
    for first, last, *nodes in reply if isinstance(reply, (list, tuple)) else ():
        if nodes and len(nodes[0]) > 2:
            ranges.append((int(first), int(last), _text(nodes[0][2])))
    return SlotMap.from_ranges(ranges)


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


_MARKER = re.compile(r"\[(\d+)-([<>])-([0-9a-f]+)\]")


def _open_slot(node_id: str, marker: re.Match[str]) -> OpenSlot:
    slot, arrow, peer = marker.groups()
    return OpenSlot(node_id, int(slot), "migrating" if arrow == ">" else "importing", peer)


def _address(host: str | None, port: str | None) -> Address | None:
    """An address from reply fields; None when either is missing or the port is 0 (Sentinel's "gone")."""
    number = _int(port)
    return Address(host, number) if host and number is not None and number > 0 else None


def _flags(text: str | None) -> frozenset[str]:
    return frozenset((text or "").split(",")) - {""}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _no_such_master(name: str, error: ErrorReply) -> str:
    if "No such master" in error.message:
        return f"does not monitor {name}"
    return error.message


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None

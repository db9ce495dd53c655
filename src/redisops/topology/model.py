"""Frozen values of a live snapshot: what one probe of one node saw.

Nothing here does I/O.  :mod:`redisops.topology.parse` builds these values from
reply text, :mod:`redisops.topology.probe` fetches that text, and the verdict
modules judge them.  A node that could not be asked carries a :class:`Failure`
instead of raising, so one dead node never hides what the others say.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from redisops.address import Address
from redisops.runtime.plan import SLOTS

__all__ = [
    "SLOTS",
    "ClusterNode",
    "ClusterProbe",
    "ErrorReply",
    "Failure",
    "FailureKind",
    "Health",
    "Loading",
    "NodeInfo",
    "OpenSlot",
    "ReplicaLink",
    "Role",
    "SentinelMaster",
    "SentinelPeer",
    "SentinelReplica",
    "SentinelView",
    "SlotMap",
    "format_slots",
]


class Role(Enum):
    """What a node answers when asked (``INFO replication`` / ``CLUSTER NODES``)."""

    MASTER = "master"
    REPLICA = "replica"
    SENTINEL = "sentinel"
    UNKNOWN = "unknown"  # not reachable, so not known


class Health(Enum):
    """The verdict; ``exit_code`` is what ``redisops status`` exits with."""

    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"

    @property
    def exit_code(self) -> int:
        return {Health.OK: 0, Health.DEGRADED: 1, Health.DOWN: 3}[self]

    @staticmethod
    def worst(healths: Iterable[Health]) -> Health:
        order = (Health.OK, Health.DEGRADED, Health.DOWN)
        return max(healths, key=order.index, default=Health.OK)


class FailureKind(Enum):
    UNREACHABLE = "unreachable"  # refused, timed out, unknown host: retrying may help
    AUTH = "auth"  # wrong or missing password: the input must change
    ERROR = "error"  # it answered, but not usefully (not Redis, loading, no such master)


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    detail: str  # short, e.g. "connection refused", "wrong password"

    def __str__(self) -> str:
        return self.detail

    @property
    def timed_out(self) -> bool:
        """No answer within the probe's timeout: the node may be dead, or only slow for a moment (a fork,
        a loaded machine, the prober's own stall), unlike a refused connection, which is definite."""
        return self.kind is FailureKind.UNREACHABLE and "timed out" in self.detail

    @property
    def transient(self) -> bool:
        """What the next poll may well not see again: a timeout, or a connection the node closed mid-probe
        (Sentinel's CLIENT KILL of a replica it promotes, a node restarting)."""
        return self.timed_out or (self.kind is FailureKind.UNREACHABLE and self.detail == "connection closed")

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind.value, "detail": self.detail}


@dataclass(frozen=True)
class ErrorReply:
    """An error reply to one command of a pipeline (the others still count)."""

    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ReplicaLink:
    """One ``slaveN:`` line of a master's ``INFO replication``."""

    address: Address
    state: str  # online, wait_bgsave, send_bulk
    offset: int
    lag_seconds: int  # seconds since the replica's last REPLCONF ACK


@dataclass(frozen=True)
class Loading:
    """A node loading its dataset (``INFO persistence``: ``loading:1``).

    It answers ``INFO`` and ``CONFIG`` meanwhile but ``-LOADING`` to data and
    cluster commands: it is alive, not missing, and not serving yet.  Redis
    loads at startup (RDB / AOF) and on a replica after a full sync.
    """

    percent: float
    eta_seconds: int | None
    loaded_bytes: int

    def __str__(self) -> str:
        eta = f", ETA {self.eta_seconds} s" if self.eta_seconds is not None and self.eta_seconds >= 0 else ""
        return f"loading its dataset ({self.percent:.0f}%{eta})"


@dataclass(frozen=True)
class NodeInfo:
    """A data node (Sentinel group or cluster) as it describes itself."""

    address: Address
    failure: Failure | None = None
    role: Role = Role.UNKNOWN
    keys: int | None = None
    #: replica: the master it follows and whether that link is up
    master: Address | None = None
    link_up: bool | None = None
    syncing: bool = False
    #: master: ``master_repl_offset``; replica: ``slave_repl_offset``
    offset: int | None = None
    #: replica: ``master_last_io_seconds_ago`` (None while the link is down)
    last_io_seconds: int | None = None
    #: master: its connected replicas
    replicas: tuple[ReplicaLink, ...] = ()
    #: set while the node loads its dataset; ``failure`` then says so too (it serves nothing yet)
    loading: Loading | None = None

    @property
    def reachable(self) -> bool:
        return self.failure is None

    def link_to(self, replica: Address) -> ReplicaLink | None:
        return next((link for link in self.replicas if link.address == replica), None)


@dataclass(frozen=True)
class SentinelView:
    """What one sentinel believes about one master name."""

    address: Address
    failure: Failure | None = None
    master: Address | None = None  # SENTINEL GET-MASTER-ADDR-BY-NAME
    flags: frozenset[str] = frozenset()  # SENTINEL MASTER: master, s_down, o_down, ...
    num_slaves: int | None = None
    num_other_sentinels: int | None = None
    quorum: int | None = None
    ckquorum_ok: bool | None = None
    ckquorum: str = ""  # the reply (or error) text
    replicas: tuple[Address, ...] = ()  # SENTINEL REPLICAS, used to discover data nodes

    @property
    def reachable(self) -> bool:
        return self.failure is None


@dataclass(frozen=True)
class SentinelMaster:
    """One sentinel's ``SENTINEL MASTER <name>``: the master as that sentinel knows it, and the group's settings.

    A field the reply lacks is None: Sentinel adds fields between versions, and a
    caller that needs one decides its default (Sentinel's own are 30 s down-after,
    180 s failover-timeout).
    """

    name: str
    address: Address | None = None
    flags: frozenset[str] = frozenset()  # master, s_down, o_down, failover_in_progress, ...
    config_epoch: int | None = None
    num_slaves: int | None = None
    num_other_sentinels: int | None = None
    quorum: int | None = None
    down_after_ms: int | None = None
    failover_timeout_ms: int | None = None
    parallel_syncs: int | None = None

    def setting(self, param: str) -> int | None:
        """A ``SENTINEL SET`` parameter by Sentinel's name for it (``down-after-milliseconds``, ...)."""
        return {"quorum": self.quorum, "down-after-milliseconds": self.down_after_ms,
                "failover-timeout": self.failover_timeout_ms, "parallel-syncs": self.parallel_syncs}[param]


@dataclass(frozen=True)
class SentinelReplica:
    """One entry of ``SENTINEL REPLICAS <name>``: a replica as the sentinel last read its INFO."""

    address: Address
    flags: frozenset[str] = frozenset()  # slave, s_down, disconnected, ...
    #: ``slave-priority``: the replica's ``replica-priority`` as of the sentinel's last INFO (0: never promoted)
    priority: int = 100


@dataclass(frozen=True)
class SentinelPeer:
    """One entry of ``SENTINEL SENTINELS``: another sentinel of the group, as the answering one knows it."""

    address: Address
    run_id: str
    flags: frozenset[str]  # sentinel, s_down, ...


@dataclass(frozen=True)
class OpenSlot:
    """A slot one node holds open: ``migrating`` to ``peer`` or ``importing`` from it.

    ``CLUSTER NODES`` prints these as ``[slot->-id]`` / ``[slot-<-id]`` markers, and
    only on the node's own (``myself``) line: each node must be asked itself.
    """

    node: str  # id of the node that prints the marker
    slot: int
    state: str  # "migrating" | "importing"
    peer: str


@dataclass(frozen=True)
class ClusterNode:
    """One line of ``CLUSTER NODES``: how the answering node sees a peer (or itself)."""

    id: str
    address: Address | None  # None for ``noaddr`` nodes (":0")
    flags: frozenset[str]
    master_id: str | None
    config_epoch: int
    link_state: str  # connected / disconnected
    slots: tuple[tuple[int, int], ...] = ()
    #: the resharding markers on this line (Redis prints them on the node's own line only)
    open_slots: tuple[OpenSlot, ...] = ()

    @property
    def role(self) -> Role:
        if "master" in self.flags:
            return Role.MASTER
        return Role.REPLICA if "slave" in self.flags else Role.UNKNOWN

    @property
    def myself(self) -> bool:
        return "myself" in self.flags

    @property
    def problems(self) -> frozenset[str]:
        """The flags that mean trouble (``fail?`` is how Redis writes pfail)."""
        names = {"fail": "fail", "fail?": "pfail", "handshake": "handshake", "noaddr": "noaddr"}
        return frozenset(names[f] for f in self.flags if f in names)


@dataclass(frozen=True)
class SlotMap:
    """Which master owns which slot: sorted, merged ``(first, last, master_id)`` ranges.

    Two nodes agree on the cluster layout exactly when their maps are equal;
    adjacent ranges of one owner are merged so that ``0-99 100-200`` and
    ``0-200`` compare equal.  Importing / migrating markers are ignored: during a
    resharding a slot still belongs to its source until ``SETSLOT NODE``.
    """

    ranges: tuple[tuple[int, int, str], ...] = ()

    @classmethod
    def from_cluster_nodes(cls, text: str) -> SlotMap:
        from redisops.topology.parse import parse_cluster_nodes

        return cls.from_nodes(parse_cluster_nodes(text))

    @classmethod
    def from_nodes(cls, nodes: Iterable[ClusterNode]) -> SlotMap:
        return cls.from_ranges((a, b, n.id) for n in nodes if n.role is Role.MASTER for a, b in n.slots)

    @classmethod
    def from_ranges(cls, ranges: Iterable[tuple[int, int, str]]) -> SlotMap:
        """``(first, last, owner)`` in any order (``CLUSTER SLOTS`` promises none) -> the map."""
        merged: list[tuple[int, int, str]] = []
        for first, last, owner in sorted(ranges):
            if merged and merged[-1][2] == owner and merged[-1][1] + 1 == first:
                merged[-1] = (merged[-1][0], last, owner)
            else:
                merged.append((first, last, owner))
        return cls(tuple(merged))

    @property
    def covered(self) -> int:
        return sum(last - first + 1 for first, last, _ in self.ranges)

    @property
    def owners(self) -> frozenset[str]:
        return frozenset(owner for _, _, owner in self.ranges)

    def owner(self, slot: int) -> str | None:
        i = bisect.bisect_right(self.ranges, (slot, SLOTS, "\uffff")) - 1
        if i >= 0 and self.ranges[i][0] <= slot <= self.ranges[i][1]:
            return self.ranges[i][2]
        return None

    def ranges_of(self, master_id: str) -> tuple[tuple[int, int], ...]:
        return tuple((a, b) for a, b, owner in self.ranges if owner == master_id)


@dataclass(frozen=True)
class ClusterProbe:
    """One cluster node: itself (:class:`NodeInfo`) plus its view of the whole cluster."""

    node: NodeInfo
    nodes: tuple[ClusterNode, ...] = ()
    state: str | None = None  # cluster_state: ok / fail
    current_epoch: int | None = None
    slots_assigned: int | None = None

    @property
    def reachable(self) -> bool:
        return self.node.reachable

    @property
    def myself(self) -> ClusterNode | None:
        return next((n for n in self.nodes if n.myself), None)

    @property
    def slot_map(self) -> SlotMap:
        return SlotMap.from_nodes(self.nodes)


def format_slots(ranges: Iterable[tuple[int, int]]) -> str:
    """``((0, 5460), (7000, 7000))`` -> ``0-5460,7000``."""
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in ranges)

"""``tune memory``: maxmemory from the host's RAM, and the eviction policy from the data's role.

Every data node of the spec runs on this machine (the local runtime), so the RAM is
divided among them.  From each node's equal share, what Redis needs *beyond* its
dataset is taken off first, because ``maxmemory`` does not count it:

* **replication backlog** (``repl-backlog-size``): a master keeps it for replicas that
  reconnect, every node that may become master;
* **client output buffers**: a master holds up to the replica class's hard limit
  (``client-output-buffer-limit replica 256mb``) per replica during a full sync, the
  pubsub class's per slow subscriber, plus an allowance for ordinary clients' query and
  reply buffers;
* **fork copy-on-write headroom**: BGSAVE, AOF rewrites and full syncs fork; every page
  written while the child runs is copied.  With persistence or replicas a node forks,
  and half its dataset is budgeted for those copies; a node that never forks needs none.

``maxmemory = (share - backlog - buffers) / (1 + cow)``.  The operating system keeps a
reserve (10 % of RAM, at least 512 MB) before the division.

Policy by role (``role: cache | store`` in the spec, or ``--role``): a cache evicts
(``allkeys-lfu``: the least frequently used keys go first); a store must never lose a
key, so ``noeviction`` (writes fail with ``-OOM`` at the limit, and the alert rules
warn at 90 %).

``--apply`` is meant to last, and the spec stays the source of truth: each live node
gets ``CONFIG SET``; its config file gets the values too (for the spec's nodes the
two lines are edited in place, which keeps the passwords out of redis.conf -- a
``CONFIG REWRITE`` would copy them in from auth.conf; other nodes get ``CONFIG
REWRITE``); and the spec's section gets ``role``, ``maxmemory`` and ``maxmemory_policy``,
so nodes created later (``scale``, ``render compose``) start with them and the next
``tune memory`` agrees with what was applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from redisops.address import Address
from redisops.auth import Credential
from redisops.clients import connect
from redisops.errors import UsageError
from redisops.runtime.host import mem_total
from redisops.runtime.plan import Plan
from redisops.spec.edit import set_values
from redisops.spec.models import ClusterSpec, DataRole, Persistence, SentinelGroup
from redisops.spec.secrets import write_private

__all__ = ["MemoryAdvice", "NodeMemory", "Terms", "advise_memory", "apply_memory", "host_ram", "read_memory",
           "set_in_conf"]

MIB = 1024 * 1024
#: what the OS and the sentinels keep: 10 % of RAM, at least this
OS_RESERVE_MIN = 512 * MIB
OS_RESERVE_SHARE = 0.10
#: ordinary clients' query and reply buffers (the normal class has no limit): an allowance per node
CLIENT_ALLOWANCE = 16 * MIB
#: of the dataset, copied while a forked child runs (BGSAVE, AOF rewrite, full sync)
COW_SHARE = 0.5
#: Redis's defaults when a node cannot be asked
DEFAULT_BACKLOG = 1 * MIB
DEFAULT_REPLICA_HARD = 256 * MIB
DEFAULT_PUBSUB_HARD = 32 * MIB
#: below this a node is not worth running: the host has too little RAM for the nodes
MIN_MAXMEMORY = 16 * MIB
#: a live maxmemory within this fraction of the advice is not a finding
TOLERANCE = 0.05
POLICY = {DataRole.CACHE: "allkeys-lfu", DataRole.STORE: "noeviction"}
CONFIG = ("maxmemory", "maxmemory-policy", "repl-backlog-size", "client-output-buffer-limit")


@dataclass(frozen=True)
class Terms:
    """Each term of the sum, in bytes, with what it is for (:meth:`explain`)."""

    ram: int
    os_reserve: int
    nodes_on_host: int
    share: int
    backlog: int
    replicas: int
    replica_buffers: int
    pubsub_buffers: int
    client_allowance: int
    cow_share: float
    cow_headroom: int
    maxmemory: int

    def explain(self) -> list[str]:
        mb = _mb
        return [
            f"host RAM {mb(self.ram)} - OS reserve {mb(self.os_reserve)} (10 %, at least 512 MB), "
            f"divided among {self.nodes_on_host} data nodes on this host: {mb(self.share)} each",
            f"- replication backlog {mb(self.backlog)} (repl-backlog-size: kept for replicas that reconnect)",
            f"- replica output buffers {mb(self.replica_buffers)} ({self.replicas} replicas x the replica class's "
            "hard limit: held while a replica takes a full sync)",
            f"- pubsub output buffers {mb(self.pubsub_buffers)} (the pubsub class's hard limit) and ordinary "
            f"clients' buffers {mb(self.client_allowance)}",
            (f"/ (1 + {self.cow_share:g}) fork copy-on-write headroom {mb(self.cow_headroom)} (pages written while "
             "BGSAVE / AOF rewrite / full sync run are copied)") if self.cow_share
            else "no fork headroom: no persistence and no replicas, the node never forks",
            f"= maxmemory {mb(self.maxmemory)}",
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"ram": self.ram, "os_reserve": self.os_reserve, "nodes_on_host": self.nodes_on_host,
                "share": self.share, "backlog": self.backlog, "replicas": self.replicas,
                "replica_buffers": self.replica_buffers, "pubsub_buffers": self.pubsub_buffers,
                "client_allowance": self.client_allowance, "cow_share": self.cow_share,
                "cow_headroom": self.cow_headroom, "maxmemory": self.maxmemory}


@dataclass(frozen=True)
class NodeMemory:
    """One live node: what it has (None when it did not answer) against the advice."""

    name: str
    address: Address
    maxmemory: int | None
    policy: str | None
    error: str | None = None
    conf: Path | None = None

    def differs(self, advice: MemoryAdvice) -> bool:
        if self.maxmemory is None:
            return False
        off = abs(self.maxmemory - advice.maxmemory) > TOLERANCE * advice.maxmemory
        return off or self.policy != advice.policy

    def to_dict(self, advice: MemoryAdvice) -> dict[str, Any]:
        return {"name": self.name, "address": str(self.address), "maxmemory": self.maxmemory,
                "policy": self.policy, "error": self.error, "differs": self.differs(advice)}


@dataclass(frozen=True)
class MemoryAdvice:
    """The advice for one section of the spec (a Sentinel group, the cluster)."""

    section: str  # "sentinel[0]", "cluster"
    name: str
    role: DataRole
    policy: str
    terms: Terms
    nodes: tuple[NodeMemory, ...] = field(default=())

    @property
    def maxmemory(self) -> int:
        return self.terms.maxmemory

    @property
    def feasible(self) -> bool:
        return self.maxmemory >= MIN_MAXMEMORY

    @property
    def policy_reason(self) -> str:
        if self.role is DataRole.CACHE:
            return "a cache: allkeys-lfu evicts the least frequently used keys when full"
        return "a store: noeviction never drops a key; writes fail with -OOM when full, the alerts warn at 90 %"

    def to_dict(self) -> dict[str, Any]:
        return {"section": self.section, "name": self.name, "role": self.role.value, "policy": self.policy,
                "policy_reason": self.policy_reason, "maxmemory": self.maxmemory, "feasible": self.feasible,
                "terms": self.terms.to_dict(), "explanation": self.terms.explain(),
                "nodes": [n.to_dict(self) for n in self.nodes]}


def _mb(value: float) -> str:
    return f"{value / MIB:.0f} MB"


def host_ram(meminfo: Path = Path("/proc/meminfo")) -> int:
    """MemTotal in bytes."""
    total = mem_total(meminfo)
    if total is not None:
        return total
    raise UsageError(f"cannot read MemTotal from {meminfo}", hint="give the RAM to divide with --ram SIZE")


def read_memory(address: Address, password: Credential) -> dict[str, str]:
    """The node's CONFIG GET values this module reads (raises the redis-py error when it does not answer)."""
    with connect(address, password, 2.0) as client:
        values: dict[str, str] = {}
        for param in CONFIG:
            values.update({str(k): str(v) for k, v in client.config_get(param).items()})
        return values


def _buffer_limits(text: str | None) -> tuple[int, int]:
    """Hard limits of the replica and pubsub classes from ``client-output-buffer-limit``."""
    replica, pubsub = DEFAULT_REPLICA_HARD, DEFAULT_PUBSUB_HARD
    words = (text or "").split()
    for i in range(0, len(words) - 3, 4):
        name, hard = words[i], words[i + 1]
        if hard.isdigit() and name in ("slave", "replica"):
            replica = int(hard)
        elif hard.isdigit() and name == "pubsub":
            pubsub = int(hard)
    return replica, pubsub


def advise_memory(plan: Plan, ram: int, live: Mapping[Address, dict[str, str] | str], *,
                  role: DataRole | None = None, confs: Mapping[Address, Path] | None = None) -> list[MemoryAdvice]:
    """Per section: maxmemory and policy, with the live nodes (``live``: CONFIG values, or why none)."""
    confs = confs or {}
    sections: list[tuple[str, SentinelGroup | ClusterSpec, Sequence[Any], int]] = [
        (f"sentinel[{i}]", g.spec, g.redis, g.spec.replicas) for i, g in enumerate(plan.groups)]
    if plan.cluster is not None:
        cluster = plan.cluster.spec
        sections.append(("cluster", cluster, plan.cluster.nodes, cluster.replicas_per_master))
    count = sum(len(nodes) for _, _, nodes, _ in sections)
    reserve = max(OS_RESERVE_MIN, int(ram * OS_RESERVE_SHARE))
    share = max(0, ram - reserve) // max(1, count)
    out = []
    for section, spec, nodes, replicas in sections:
        values = [v for n in nodes if isinstance(v := live.get(n.address), dict)]
        first = values[0] if values else {}
        backlog = max([int(v.get("repl-backlog-size", DEFAULT_BACKLOG)) for v in values] or [DEFAULT_BACKLOG])
        replica_hard, pubsub_hard = _buffer_limits(first.get("client-output-buffer-limit"))
        forks = spec.persistence is not Persistence.NONE or replicas > 0
        cow = COW_SHARE if forks else 0.0
        room = share - backlog - replicas * replica_hard - pubsub_hard - CLIENT_ALLOWANCE
        maxmemory = max(0, int(room / (1 + cow))) // MIB * MIB
        terms = Terms(ram, reserve, count, share, backlog, replicas, replicas * replica_hard, pubsub_hard,
                      CLIENT_ALLOWANCE, cow, int(maxmemory * cow), maxmemory)
        chosen = role or spec.role
        out.append(MemoryAdvice(section, spec.name, chosen, POLICY[chosen], terms,
                                tuple(_node(n.name, n.address, live.get(n.address), confs.get(n.address))
                                      for n in nodes)))
    return out


def _node(name: str, address: Address, values: dict[str, str] | str | None, conf: Path | None) -> NodeMemory:
    if not isinstance(values, dict):
        return NodeMemory(name, address, None, None, values or "not asked", conf)
    return NodeMemory(name, address, int(values.get("maxmemory", 0)), values.get("maxmemory-policy"), None, conf)


def apply_memory(advice: Sequence[MemoryAdvice], password: Credential, spec_file: Path | None) -> list[str]:
    """Set the advice on every live node, in its config file, and in the spec; one sentence per change."""
    infeasible = [a for a in advice if not a.feasible]
    if infeasible:
        a = infeasible[0]
        raise UsageError(f"{a.section} ({a.name}): the host's RAM leaves {_mb(a.maxmemory)} per node, "
                         f"below {_mb(MIN_MAXMEMORY)}", hint="run fewer nodes on this host, or give it more RAM")
    done = []
    for item in advice:
        for node in item.nodes:
            if node.maxmemory is None:
                if node.conf is not None and node.conf.exists():
                    set_in_conf(node.conf, {"maxmemory": str(item.maxmemory), "maxmemory-policy": item.policy})
                    done.append(f"{node.name}: not running; its config file has it for its next start")
                else:
                    done.append(f"{node.name}: not running and not created yet: it starts with the spec's values")
                continue
            _set_live(node, item, password)
            done.append(f"{node.name}: maxmemory {_mb(item.maxmemory)}, maxmemory-policy {item.policy}")
    if spec_file is not None:
        text = spec_file.read_text()
        for item in advice:
            values = {"maxmemory": f"{item.maxmemory // MIB}mb", "maxmemory_policy": item.policy,
                      "role": item.role.value}
            if item.section == "cluster":
                text = set_values(text, "cluster", values)
            else:
                text = set_values(text, "sentinel", values, index=int(item.section[len("sentinel["):-1]))
        write_private(spec_file, text, mode=spec_file.stat().st_mode & 0o777)
        done.append(f"{spec_file}: role, maxmemory and maxmemory_policy recorded in "
                    f"{', '.join(a.section for a in advice)}")
    return done


def _set_live(node: NodeMemory, advice: MemoryAdvice, password: Credential) -> None:
    with connect(node.address, password, 5.0) as client:
        client.config_set("maxmemory", advice.maxmemory)
        client.config_set("maxmemory-policy", advice.policy)
        if node.conf is not None and node.conf.exists():
            set_in_conf(node.conf, {"maxmemory": str(advice.maxmemory), "maxmemory-policy": advice.policy})
            return
        try:
            client.execute_command("CONFIG", "REWRITE")
        except redis.ResponseError as exc:
            if "without a config file" not in str(exc):
                raise


def set_in_conf(conf: Path, values: Mapping[str, str]) -> None:
    """Set ``param value`` lines in a redis.conf: each existing line replaced (the last one: it wins), else added
    before the closing ``include`` (which must stay last: it holds the passwords)."""
    lines = conf.read_text().splitlines()
    for param, value in values.items():
        at = [i for i, line in enumerate(lines) if line.split()[:1] == [param]]
        if at:
            lines[at[-1]] = f"{param} {value}"
            continue
        end = len(lines) - 1 if lines and lines[-1].startswith("include ") else len(lines)
        lines.insert(end, f"{param} {value}")
    write_private(conf, "\n".join(lines) + "\n", mode=conf.stat().st_mode & 0o777)

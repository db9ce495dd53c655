"""Forming a Redis Cluster from empty nodes, with our own commands (no redis-cli).

Formation converges rather than replays: every step first reads what the
nodes already know and only does what is missing, so an interrupted ``up`` can
simply run again.  Order, as redis-cli does it:

1. ``CLUSTER SET-CONFIG-EPOCH i`` on each fresh node: distinct epochs from the
   start, so no two masters ever claim slots with the same epoch.
2. ``CLUSTER ADDSLOTSRANGE`` on each master for the slots nobody claims yet.
3. ``CLUSTER MEET`` between every pair not yet acquainted: a full mesh of MEETs
   converges in one handshake (about 0.1 s) where gossip alone takes seconds.
4. Wait until every node lists every other (no handshake left), because
   ``CLUSTER REPLICATE`` needs the replica to know its master's id.
5. ``CLUSTER REPLICATE <master id>`` on each planned replica that is still a
   slot-less master.
6. Wait for ``cluster_state:ok`` on every node, with gossip sped up meanwhile
   (see :func:`_fast_gossip`).

Nodes that hold keys, or that already know nodes outside the list, are never
touched: forming would lose data or merge two clusters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis

from redisops.address import Address
from redisops.auth import Credential
from redisops.clients import make_client
from redisops.clock import Clock, SystemClock
from redisops.errors import AuthError, ClusterFormationError, NodeUnreachableError
from redisops.runtime.plan import ClusterLayout
from redisops.runtime.temporary import Journal, temporary_config
from redisops.topology.loading import wait_loaded
from redisops.topology.model import SLOTS, ClusterNode, Role
from redisops.topology.parse import parse_cluster_nodes, parse_info

__all__ = ["ClusterShape", "form_cluster"]

FORMING_NODE_TIMEOUT_MS = 1000


@dataclass(frozen=True)
class ClusterShape:
    """The cluster we want: masters with their slot ranges, replicas with their master."""

    masters: tuple[Address, ...]
    slots: Mapping[Address, tuple[int, int]]
    replica_of: Mapping[Address, Address]

    @property
    def nodes(self) -> tuple[Address, ...]:
        return (*self.masters, *self.replica_of)

    @classmethod
    def from_layout(cls, layout: ClusterLayout) -> ClusterShape:
        """The shape a spec's cluster layout asks for."""
        by_name = {n.name: n.address for n in layout.nodes}
        return cls(
            masters=tuple(m.address for m in layout.masters),
            slots={m.address: layout.slots_of(m) for m in layout.masters},
            replica_of={by_name[r]: by_name[m] for r, m in layout.replica_of.items()},
        )


@dataclass(frozen=True)
class _NodeView:
    address: Address
    node_id: str
    known: tuple[ClusterNode, ...]  # its CLUSTER NODES: itself and every node it knows
    epoch: int
    keys: int

    @property
    def me(self) -> ClusterNode | None:
        return next((n for n in self.known if n.myself), None)

    def knows(self, address: Address) -> bool:
        return any(n.address == address for n in self.known)

    @property
    def claimed(self) -> set[int]:
        return {s for n in self.known for first, last in n.slots for s in range(first, last + 1)}


def form_cluster(shape: ClusterShape, password: Credential, *, clock: Clock | None = None,
                 timeout: float = 30.0, progress: Callable[[str], None] = lambda _msg: None,
                 allow_keys: bool = False, journal: Journal | None = None) -> str:
    """Bring the nodes of ``shape`` into one cluster; return what was done, as a sentence.

    ``allow_keys`` (``cluster create --force``) forms the cluster even from nodes
    holding keys; keys outside the slots a node gets stay unreachable until
    ``cluster check`` shows and a fix moves them.  ``journal`` records the
    temporary gossip timer (:func:`_fast_gossip`), so that a formation killed
    half way has it undone by the next ``up``.
    """
    clock = clock or SystemClock()
    clients = {addr: make_client(addr, password, timeout=5.0) for addr in shape.nodes}
    try:
        views = _views(clients, password, clock, progress)
        _refuse_unsafe(shape, views, allow_keys)
        if _is_formed(shape, views):
            return f"cluster already formed: {len(shape.masters)} masters, {len(shape.replica_of)} replicas"
        progress("forming cluster: assigning slots and joining nodes")
        for index, addr in enumerate(shape.nodes):
            if len(views[addr].known) <= 1 and views[addr].epoch == 0:
                _try(clients[addr], "CLUSTER", "SET-CONFIG-EPOCH", index + 1)
        claimed = set().union(*(v.claimed for v in views.values()))
        for master in shape.masters:
            for start, end in _missing_ranges(shape.slots[master], claimed):
                clients[master].execute_command("CLUSTER", "ADDSLOTSRANGE", start, end)
        for index, addr in enumerate(shape.nodes):
            for other in shape.nodes[index + 1:]:
                if not views[addr].knows(other):
                    clients[addr].execute_command("CLUSTER", "MEET", other.host, other.port)
                elif not views[other].knows(addr):  # e.g. a node restarted without its nodes.conf
                    clients[other].execute_command("CLUSTER", "MEET", addr.host, addr.port)
        with _fast_gossip(clients, password, journal):
            progress("forming cluster: waiting for every node to know every other")
            views = _wait_all_known(shape, clients, password, clock, timeout)
            for replica, master in shape.replica_of.items():
                if _is_slotless_master(views[replica]):
                    clients[replica].execute_command("CLUSTER", "REPLICATE", views[master].node_id)
            _rejoin_replaced_masters(shape, views, clients, progress)
            _forget_stale(views, clients)
            progress("forming cluster: waiting for cluster_state:ok on every node")
            _wait_state_ok(clients, clock, timeout)
        return (f"formed cluster: {len(shape.masters)} masters, {len(shape.replica_of)} replicas, "
                f"slots {', '.join(f'{a}-{b}' for a, b in (shape.slots[m] for m in shape.masters))}")
    finally:
        for client in clients.values():
            client.close()


def _views(clients: Mapping[Address, redis.Redis], password: Credential, clock: Clock,
           progress: Callable[[str], None] = lambda _msg: None) -> dict[Address, _NodeView]:
    """Every node's view of the cluster, once none is loading its dataset (a loading node is there, only busy)."""
    while True:
        try:
            return _read_views(clients)
        except redis.BusyLoadingError:
            wait_loaded(list(clients), password, clock=clock, progress=progress)


def _read_views(clients: Mapping[Address, redis.Redis]) -> dict[Address, _NodeView]:
    views: dict[Address, _NodeView] = {}
    failures: list[str] = []
    for addr, client in clients.items():
        try:
            info = parse_info(str(client.execute_command("CLUSTER", "INFO")))
            known = parse_cluster_nodes(str(client.execute_command("CLUSTER", "NODES")))
            views[addr] = _NodeView(addr, client.execute_command("CLUSTER", "MYID"), known,
                                    int(info["cluster_current_epoch"]), client.dbsize())
        except redis.AuthenticationError as exc:
            raise AuthError(str(addr), "authentication failed", hint="check the password") from exc
        except redis.BusyLoadingError:
            raise
        except redis.ResponseError as exc:
            if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
                raise AuthError(str(addr), "authentication failed", hint="check the password") from exc
            failures.append(f"{addr} {exc}")
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            failures.append(f"{addr} unreachable ({exc})")
    if failures:
        raise NodeUnreachableError(failures[0].split()[0], "cannot form the cluster: " + "; ".join(failures),
                                   hint="start the nodes and check their addresses")
    return views


def _refuse_unsafe(shape: ClusterShape, views: Mapping[Address, _NodeView], allow_keys: bool = False) -> None:
    wanted = set(shape.nodes)
    for addr, view in views.items():
        # a node that was never MEET-ed lists itself as ":port" (it learns its IP from a peer): skip itself
        foreign = sorted(str(n.address or n.id) for n in view.known
                         if n.address not in wanted and not n.myself and not _stale(n))
        if foreign:
            raise ClusterFormationError(f"{addr} already belongs to another cluster (it knows {foreign[0]})",
                                        hint="reset it with CLUSTER RESET or leave it out of this cluster")
    if not allow_keys and not _is_formed(shape, views):
        loaded = [f"{a} ({v.keys} keys)" for a, v in views.items() if v.keys and len(v.known) <= 1]
        if loaded:
            raise ClusterFormationError(f"refusing to form a cluster from non-empty nodes: {', '.join(loaded)}",
                                        hint="flush them, use empty nodes, or pass --force")


def _is_formed(shape: ClusterShape, views: Mapping[Address, _NodeView]) -> bool:
    """Every node knows every other, all slots are claimed, and no planned replica is still a slot-less master
    (a formation killed between the MEETs and the REPLICATEs left exactly that)."""
    return all(len(v.known) == len(shape.nodes) for v in views.values()) and all(
        len(v.claimed) == SLOTS for v in views.values()) and not any(
        _is_slotless_master(views[r]) for r in shape.replica_of)


def _missing_ranges(wanted: tuple[int, int], claimed: set[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    start: int | None = None
    for slot in range(wanted[0], wanted[1] + 2):
        free = slot <= wanted[1] and slot not in claimed
        if free and start is None:
            start = slot
        elif not free and start is not None:
            ranges.append((start, slot - 1))
            start = None
    return ranges


def _wait_all_known(shape: ClusterShape, clients: Mapping[Address, redis.Redis], password: Credential,
                    clock: Clock, timeout: float) -> dict[Address, _NodeView]:
    deadline = clock.now() + timeout
    while True:
        views = _views(clients, password, clock)
        lagging = [a for a, v in views.items() if len(v.known) < len(shape.nodes)
                   or any("handshake" in n.flags for n in v.known)]
        if not lagging:
            return views
        if clock.now() > deadline:
            raise ClusterFormationError(f"nodes did not all meet within {timeout:.0f} s: {lagging[0]} knows "
                                        f"{len(views[lagging[0]].known)} of {len(shape.nodes)} nodes",
                                        hint="check that the cluster bus ports (port + 10000) are reachable")
        clock.sleep(0.05)


@contextmanager
def _fast_gossip(clients: Mapping[Address, redis.Redis], password: Credential,
                 journal: Journal | None) -> Iterator[None]:
    """Shorten ``cluster-node-timeout`` while the cluster forms, then restore each node's value.

    Slot ownership travels only in the header of a node's own PING/PONG, and an
    idle peer is pinged every node_timeout/2: with 5000 ms a node can wait 2.5 s
    to learn a master's slots.  At 1000 ms it learns within 0.5 s, while a node is
    still only suspected after a full second of silence on loopback.  A
    temporary setting (:mod:`redisops.runtime.temporary`): journaled, and put
    back in memory and in the config file.
    """
    with temporary_config(journal, password, "fast gossip while the cluster forms") as temp:
        for addr, client in clients.items():
            if int(str(client.config_get("cluster-node-timeout")["cluster-node-timeout"])) > FORMING_NODE_TIMEOUT_MS:
                temp.set(addr, "cluster-node-timeout", FORMING_NODE_TIMEOUT_MS)
        yield


def _wait_state_ok(clients: Mapping[Address, redis.Redis], clock: Clock, timeout: float) -> None:
    deadline = clock.now() + timeout
    while True:
        waiting = [a for a, c in clients.items()
                   if parse_info(str(c.execute_command("CLUSTER", "INFO"))).get("cluster_state") != "ok"]
        if not waiting:
            return
        if clock.now() > deadline:
            raise ClusterFormationError(f"{waiting[0]} has not reported cluster_state:ok within {timeout:.0f} s",
                                        hint="run `redisops status` to see which slots or nodes it misses")
        clock.sleep(0.02)


def _stale(node: ClusterNode) -> bool:
    """An entry whose address is gone (``noaddr``): the node that was there lost its nodes.conf and came
    back with a new id, so the old id names nobody -- not a node of another cluster."""
    return "noaddr" in node.flags


def _rejoin_replaced_masters(shape: ClusterShape, views: Mapping[Address, _NodeView],
                             clients: Mapping[Address, redis.Redis], progress: Callable[[str], None]) -> None:
    """A planned master that came back empty (data and nodes.conf lost) while its replica took its slots
    over replicates that new owner, so the shard has its replica again instead of a slot-less master."""
    for master in shape.masters:
        view = views[master]
        if not _is_slotless_master(view) or view.keys:
            continue
        first = shape.slots[master][0]
        owner = next((n.id for n in view.known if not n.myself and any(a <= first <= b for a, b in n.slots)), None)
        if owner:
            progress(f"{master} came back empty; its slots are served by {owner[:8]}: making it that master's replica")
            clients[master].execute_command("CLUSTER", "REPLICATE", owner)


def _forget_stale(views: Mapping[Address, _NodeView], clients: Mapping[Address, redis.Redis]) -> None:
    """``CLUSTER FORGET`` on every node for ids whose address is gone (see :func:`_stale`)."""
    stale = {n.id for v in views.values() for n in v.known if _stale(n)}
    for node_id in sorted(stale):
        for client in clients.values():
            _try(client, "CLUSTER", "FORGET", node_id)


def _is_slotless_master(view: _NodeView) -> bool:
    me = view.me
    return me is not None and me.role is Role.MASTER and not me.slots


def _try(client: redis.Redis, *args: Any) -> None:
    try:
        client.execute_command(*args)
    except redis.ResponseError:
        pass  # already set (not fresh): harmless, formation goes on

"""One template source for redis.conf and sentinel.conf, used by every runtime.

A runtime decides only *where* a node runs (:class:`Placement`: bind address,
paths, the address peers use); everything else comes from the spec and the
plan, so a local node and its Compose twin run the same configuration.
Secrets never enter these files: they live in ``auth.conf`` (mode 0600),
pulled in with ``include``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2

from redisops.address import Address
from redisops.runtime.plan import NodeKind, NodePlan, Plan
from redisops.runtime.tls import node_conf_lines
from redisops.spec.models import ClusterSpec, Persistence, SentinelGroup

__all__ = ["Placement", "conf_directive", "conf_replicaof", "render_conf", "sentinel_conf_master"]


@dataclass(frozen=True)
class Placement:
    """What differs between runtimes for one node."""

    #: the ``bind`` line's addresses, for every node or per node
    bind: str | Callable[[NodePlan], str]
    dir: str
    logfile: str  # "" logs to stdout (containers)
    auth_file: str
    #: how peers and clients reach a node of the plan
    address_of: Callable[[NodePlan], Address]
    #: a TLS deployment's certificate directory (:mod:`redisops.runtime.tls`); None: plaintext
    tls_dir: Path | None = None

    def bind_for(self, node: NodePlan) -> str:
        return self.bind if isinstance(self.bind, str) else self.bind(node)


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("redisops.runtime", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_conf(plan: Plan, node: NodePlan, place: Placement) -> str:
    """redis.conf or sentinel.conf text for ``node``."""
    if node.kind is NodeKind.SENTINEL:
        return _sentinel_conf(plan, node, place)
    return _redis_conf(plan, node, place)


def _redis_conf(plan: Plan, node: NodePlan, place: Placement) -> str:
    settings: ClusterSpec | SentinelGroup
    if node.kind is NodeKind.CLUSTER:
        assert plan.cluster is not None
        settings = plan.cluster.spec
        cluster = settings
        replicas = settings.replicas_per_master
        min_write, max_lag, replica_of = 0, 10, None
        role = "cluster master" if node in plan.cluster.masters else "cluster replica"
    else:
        layout = next(g for g in plan.groups if g.spec.name == node.group)
        settings = group = layout.spec
        cluster = None
        replicas = group.replicas
        min_write, max_lag = group.min_replicas_to_write, group.min_replicas_max_lag
        replica_of = place.address_of(layout.master) if node.replica_of else None
        role = "initial replica" if replica_of else "initial master"
    return _env().get_template("redis.conf.j2").render(
        node=node,
        role=role,
        place=place,
        bind=place.bind_for(node),
        tls=node_conf_lines(place.tls_dir, node) if place.tls_dir else [],
        announce=place.address_of(node),
        settings=settings,
        rdb=settings.persistence in (Persistence.RDB, Persistence.BOTH),
        aof=settings.persistence in (Persistence.AOF, Persistence.BOTH),
        replicas=replicas,
        min_replicas_to_write=min_write,
        min_replicas_max_lag=max_lag,
        replica_of=replica_of,
        cluster=cluster,
    )


def _sentinel_conf(plan: Plan, node: NodePlan, place: Placement) -> str:
    layout = next(g for g in plan.groups if g.spec.name == node.group)
    peers = [(place.address_of(s), s.sentinel_id) for s in layout.sentinels if s is not node]
    return _env().get_template("sentinel.conf.j2").render(
        node=node,
        place=place,
        bind=place.bind_for(node),
        tls=node_conf_lines(place.tls_dir, node) if place.tls_dir else [],
        announce=place.address_of(node),
        group=layout.spec,
        master=place.address_of(layout.master),
        known_replicas=[place.address_of(r) for r in layout.replicas],
        known_sentinels=peers,
    )


def sentinel_conf_master(text: str, group: str) -> tuple[Address, int] | None:
    """The master a sentinel.conf names for ``group`` and its config epoch: ``(address, epoch)``.

    Sentinel rewrites its file on every change of master (``sentinel monitor
    <group> <ip> <port> <quorum>`` then ``sentinel config-epoch <group> <n>``),
    so the file of a stopped sentinel tells the last master it knew.  A file
    never rewritten has no epoch line: epoch 0, the initial master.
    """
    master: Address | None = None
    epoch = 0
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 5 and words[:2] == ["sentinel", "monitor"] and words[2] == group and words[4].isdigit():
            master = Address(words[3], int(words[4]))
        elif len(words) == 4 and words[:2] == ["sentinel", "config-epoch"] and words[2] == group:
            epoch = int(words[3]) if words[3].isdigit() else 0
    return None if master is None else (master, epoch)


def conf_replicaof(text: str) -> Address | None:
    """The master a redis.conf makes the node follow (its last ``replicaof`` / ``slaveof`` line); None: a master."""
    master: Address | None = None
    for line in text.splitlines():
        words = line.split()
        if len(words) == 3 and words[0].lower() in ("replicaof", "slaveof"):
            no_one = [w.lower() for w in words[1:]] == ["no", "one"]
            master = None if no_one or not words[2].isdigit() else Address(words[1].strip('"'), int(words[2]))
    return master


def conf_directive(line: str) -> str:
    """What a conf line sets, as Redis keys it: ``requirepass``, ``sentinel auth-pass mymaster``, ``user bob``;
    ``""`` for a blank or comment line.  Lines of auth.conf name what its ``include`` owns: the copies CONFIG
    REWRITE / SENTINEL FLUSHCONFIG make of them in the main conf are dropped at the next start."""
    words = line.split()
    if not words or words[0].startswith("#"):
        return ""
    name = words[0].lower()
    if name == "sentinel" and len(words) > 2 and words[1].lower() in ("auth-pass", "auth-user"):
        return f"sentinel {words[1].lower()} {words[2]}"
    if name == "user" and len(words) > 1:
        return f"user {words[1]}"
    return name

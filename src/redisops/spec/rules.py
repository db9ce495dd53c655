"""Cross-field rules of the spec, in one function: :func:`check_rules`.

Each rule returns :class:`~redisops.errors.Problem` values with the path of the
field to change, so ``redisops config validate`` can list them all at once.
Warnings are good-practice findings; errors make the spec unusable.
"""

from __future__ import annotations

from collections.abc import Iterator

from redisops.address import is_loopback
from redisops.errors import Problem
from redisops.spec.models import ClusterSpec, DataRole, MaxmemoryPolicy, Persistence, SentinelGroup, Spec

__all__ = ["check_rules", "port_claims"]

#: Below this, loaded or virtualised hosts cause false failovers (redis#8607: 500 ms did, 2000 ms fixed it).
MIN_DOWN_AFTER_REMOTE_MS = 2000


def check_rules(spec: Spec) -> list[Problem]:
    problems: list[Problem] = []
    if not spec.sentinel and spec.cluster is None and "sentinel" not in spec.model_fields_set \
            and "cluster" not in spec.model_fields_set:
        problems.append(Problem("", "defines no sentinel group and no cluster: add `sentinel:` or `cluster:`"))
    seen: dict[str, int] = {}
    for index, group in enumerate(spec.sentinel):
        path = f"sentinel[{index}]"
        if group.name in seen:
            problems.append(Problem(f"{path}.name", f"{group.name!r} is also sentinel[{seen[group.name]}].name"))
        seen.setdefault(group.name, index)
        problems.extend(_sentinel_rules(path, group))
    if spec.cluster is not None:
        problems.extend(_cluster_rules("cluster", spec.cluster))
    problems.extend(_port_overlaps(spec))
    return problems


def _sentinel_rules(path: str, group: SentinelGroup) -> Iterator[Problem]:
    if group.quorum > group.sentinels:
        yield Problem(f"{path}.quorum", f"{group.quorum} exceeds sentinels ({group.sentinels})")
    elif group.quorum == group.sentinels:
        yield _warn(f"{path}.quorum", f"equals sentinels ({group.sentinels}): one sentinel down blocks failover; "
                    f"use {group.majority}")
    elif group.quorum < group.majority:
        yield _warn(f"{path}.quorum", f"{group.quorum} is below a majority of {group.sentinels} sentinels "
                    f"({group.majority}): a minority can declare the master down")
    if group.sentinels % 2 == 0:
        yield _warn(f"{path}.sentinels", f"{group.sentinels} is even: an odd number tolerates the same failures "
                    "with one sentinel less")
    yield from _host_spread(path, group)
    if group.failover_timeout_ms <= group.down_after_ms:
        yield Problem(f"{path}.failover_timeout_ms", f"{group.failover_timeout_ms} must exceed down_after_ms "
                      f"({group.down_after_ms}); use at least {2 * group.down_after_ms}")
    elif group.failover_timeout_ms < 2 * group.down_after_ms:
        yield _warn(f"{path}.failover_timeout_ms", f"{group.failover_timeout_ms} is under twice down_after_ms "
                    f"({group.down_after_ms}): a retried failover may start before the first one settles")
    remote = [h for h in group.hosts if not is_loopback(h)]
    if remote and group.down_after_ms < MIN_DOWN_AFTER_REMOTE_MS:
        yield Problem(f"{path}.down_after_ms", f"{group.down_after_ms} ms is too short for non-loopback hosts "
                      f"({remote[0]}): use at least {MIN_DOWN_AFTER_REMOTE_MS} ms to avoid false failovers")
    if group.min_replicas_to_write > group.replicas:
        yield Problem(f"{path}.min_replicas_to_write", f"{group.min_replicas_to_write} exceeds replicas "
                      f"({group.replicas}): the master would refuse every write")
    if group.parallel_syncs > group.replicas:
        yield _warn(f"{path}.parallel_syncs", f"{group.parallel_syncs} exceeds replicas ({group.replicas})")
    if group.persistence is Persistence.NONE:
        yield _warn(f"{path}.persistence", "none: a master that restarts empty before failover wipes its replicas")
    yield from _role_rules(path, group)


def _host_spread(path: str, group: SentinelGroup) -> Iterator[Problem]:
    """With several hosts, losing the busiest host must leave a majority of sentinels."""
    if len(group.hosts) < 2:
        return
    per_host = [0] * len(group.hosts)
    for index in range(group.sentinels):
        per_host[index % len(group.hosts)] += 1
    if group.sentinels - max(per_host) < group.majority:
        yield Problem(f"{path}.hosts", f"losing one host loses {max(per_host)} of {group.sentinels} sentinels and "
                      f"with them the majority ({group.majority}): use at least 3 hosts")


def _cluster_rules(path: str, cluster: ClusterSpec) -> Iterator[Problem]:
    remote = [h for h in cluster.hosts if not is_loopback(h)]
    if remote and cluster.node_timeout_ms < MIN_DOWN_AFTER_REMOTE_MS:
        yield Problem(f"{path}.node_timeout_ms", f"{cluster.node_timeout_ms} ms is too short for non-loopback hosts: "
                      f"use at least {MIN_DOWN_AFTER_REMOTE_MS} ms")
    if cluster.replicas_per_master == 0:
        yield _warn(f"{path}.replicas_per_master", "0: losing any master loses its slots")
    if cluster.port + cluster.size - 1 + 10000 > 65535:
        yield Problem(f"{path}.port", f"{cluster.port}: cluster bus ports (port + 10000) would exceed 65535")
    if cluster.persistence is Persistence.NONE and cluster.replicas_per_master:
        yield _warn(f"{path}.persistence", "none: a restarted master comes back empty and its replica must take over")
    yield from _role_rules(path, cluster)


def _role_rules(path: str, settings: SentinelGroup | ClusterSpec) -> Iterator[Problem]:
    """The eviction policy must fit what the data is (``role``): a cache evicts, a store never does."""
    policy = settings.maxmemory_policy
    if settings.role is DataRole.CACHE and policy is MaxmemoryPolicy.NOEVICTION:
        yield _warn(f"{path}.maxmemory_policy", "noeviction on a cache: writes fail with -OOM when full instead of "
                    "evicting; use allkeys-lfu (`redisops tune memory --apply`)")
    elif settings.role is DataRole.STORE and policy.value.startswith("allkeys-"):
        yield _warn(f"{path}.maxmemory_policy", f"{policy.value} on a store: any key may be evicted when full; "
                    "use noeviction, or say `role: cache`")


def port_claims(spec: Spec) -> list[tuple[str, str, int]]:
    """Every (field path, role, port) the spec claims, in spec order."""
    claims: list[tuple[str, str, int]] = []
    for index, group in enumerate(spec.sentinel):
        path = f"sentinel[{index}]"
        claims += [(f"{path}.port", f"{group.name} redis", group.port + i) for i in range(group.replicas + 1)]
        claims += [(f"{path}.sentinel_port", f"{group.name} sentinel", group.sentinel_port + i)
                   for i in range(group.sentinels)]
    if spec.cluster is not None:
        cluster = spec.cluster
        claims += [("cluster.port", f"cluster {cluster.name}", cluster.port + i) for i in range(cluster.size)]
        claims += [("cluster.port", f"cluster {cluster.name} bus", cluster.port + 10000 + i)
                   for i in range(cluster.size)]
    claims += spec.monitor.port_claims()
    return claims


def _port_overlaps(spec: Spec) -> Iterator[Problem]:
    owner: dict[int, tuple[str, str]] = {}
    reported: set[tuple[str, str]] = set()
    for path, role, port in port_claims(spec):
        if port > 65535:
            yield Problem(path, f"{role} would need port {port}, above 65535")
            continue
        if port in owner and owner[port][0] != path:
            other_path, other_role = owner[port]
            if (path, other_path) not in reported:
                reported.add((path, other_path))
                yield Problem(path, f"{role} port {port} overlaps {other_role} ({other_path})")
            continue
        owner.setdefault(port, (path, role))


def _warn(path: str, message: str) -> Problem:
    return Problem(path, message, severity="warning")

"""Rules on one node's ``INFO`` and ``CONFIG GET``: memory, persistence, replication, clients.

Pure functions of the figures (``{field: value}`` as :func:`~redisops.topology.parse.parse_info`
gives them), so each rule is unit-tested on real INFO text.  Thresholds follow Redis's
own doctors where it has one: ``MEMORY DOCTOR`` calls fragmentation a problem above
1.4 *and* 10 MB (a small dataset always looks fragmented: the allocator's arenas
dwarf it; we ask for 64 MB of waste, see :class:`Thresholds`), and
``min-replicas-max-lag``'s default of 10 s is what Redis itself calls a lagging replica.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from redisops.observe.doctor.model import Finding, Severity
from redisops.topology.parse import parse_replica_links

__all__ = ["FIGURES", "Thresholds", "figures_of", "info_findings", "memory_doctor_findings", "mib"]

MIB = 1024 * 1024

#: INFO fields a report shows per node (besides the findings)
FIGURES = ("role", "redis_version", "used_memory", "used_memory_rss", "used_memory_peak", "maxmemory",
           "maxmemory_policy", "mem_fragmentation_ratio", "mem_fragmentation_bytes", "evicted_keys",
           "connected_clients", "rejected_connections", "instantaneous_ops_per_sec", "rdb_last_bgsave_status",
           "aof_enabled", "aof_last_write_status", "latest_fork_usec", "master_link_status",
           "master_repl_offset", "connected_slaves")


@dataclass(frozen=True)
class Thresholds:
    """When a figure becomes a finding; the defaults say where they come from."""

    #: MEMORY DOCTOR's ratio (1.4); its 10 MB floor flags every small node after any burst of writes (the
    #: allocator's arenas alone are that big), so the waste must be worth a restart: 64 MB
    fragmentation_ratio: float = 1.4
    fragmentation_bytes: int = 64 * MIB
    #: RSS this far below used memory means pages were swapped out (latency of a disk per access)
    swap_ratio: float = 0.9
    #: of maxmemory: above it a store is one burst from -OOM and a cache evicts continuously
    memory_near_limit: float = 0.9
    #: seconds since a replica's last ACK: Redis's own min-replicas-max-lag default
    replica_lag_s: int = 10
    #: a fork this slow pauses the node that long at every BGSAVE, AOF rewrite and full sync
    fork_usec: int = 500_000
    #: of maxclients
    clients_near_limit: float = 0.9


def mib(value: float) -> str:
    return f"{value / MIB:.1f} MB"


def figures_of(info: Mapping[str, str]) -> dict[str, str]:
    return {key: info[key] for key in FIGURES if key in info}


def info_findings(info: Mapping[str, str], config: Mapping[str, str],
                  limits: Thresholds = Thresholds()) -> list[Finding]:
    """Every rule of this module on one node's INFO (all sections) and CONFIG GET values."""
    return [*_memory(info, limits), *_evictions(info), *_persistence(info, limits), *_replication(info, limits),
            *_clients(info, config, limits)]


def memory_doctor_findings(text: str) -> list[Finding]:
    """``MEMORY DOCTOR``'s verdict: "Sam, I detected a few issues" is a finding, "Hi Sam, I can't find any" is not.

    An info: its text is kept whole in the report, and the rules of this module judge
    the same figures (fragmentation, peak) with a severity and a fix.
    """
    if "detected a few issues" not in text and "I detected" not in text:
        return []
    return [Finding("memory.doctor", Severity.INFO, "MEMORY DOCTOR reports issues",
                    text.strip(), "read the advice above; `redisops doctor --json` keeps the full text")]


def _num(info: Mapping[str, str], key: str, default: float = 0.0) -> float:
    try:
        return float(info.get(key, default))
    except ValueError:
        return default


def _memory(info: Mapping[str, str], limits: Thresholds) -> list[Finding]:
    out = []
    used, rss = _num(info, "used_memory"), _num(info, "used_memory_rss")
    ratio = _num(info, "mem_fragmentation_ratio", rss / used if used else 0.0)
    wasted = _num(info, "mem_fragmentation_bytes", rss - used)
    if ratio > limits.fragmentation_ratio and wasted > limits.fragmentation_bytes:
        out.append(Finding(
            "memory.fragmentation", Severity.WARNING,
            f"memory fragmentation {ratio:.2f} ({mib(wasted)} of RSS holds no data)",
            "the allocator keeps pages that deleted or resized values left half empty; the host pays RSS, "
            "not used_memory, so the node can run the host out of memory below its maxmemory",
            "`CONFIG SET activedefrag yes` (jemalloc builds) and CONFIG REWRITE to keep it; or restart the node "
            "after a failover (`redisops failover --to` another replica) so it reloads compactly",
            details={"ratio": ratio, "bytes": int(wasted)}))
    elif used > limits.fragmentation_bytes and 0 < ratio < limits.swap_ratio:
        out.append(Finding(
            "memory.swapping", Severity.ERROR, f"RSS is {ratio:.2f} of used memory: part of the dataset is swapped out",
            "every access to a swapped page waits for the disk: latency jumps from microseconds to milliseconds",
            "give the host more RAM or lower maxmemory (`redisops tune memory`), and set vm.swappiness=1",
            details={"ratio": ratio}))
    maxmemory = _num(info, "maxmemory")
    policy = info.get("maxmemory_policy", "noeviction")
    if maxmemory == 0:
        out.append(Finding(
            "memory.no-limit", Severity.WARNING, "maxmemory is 0: no memory limit",
            "the node grows until the kernel's OOM killer ends it, or the host swaps; with a limit it refuses "
            "writes (store) or evicts (cache) instead",
            "`redisops tune memory --apply` sizes maxmemory from the host's RAM"))
    elif used / maxmemory >= limits.memory_near_limit:
        store = policy == "noeviction"
        out.append(Finding(
            "memory.near-limit", Severity.ERROR if store else Severity.WARNING,
            f"used memory {mib(used)} is {used / maxmemory:.0%} of maxmemory {mib(maxmemory)} ({policy})",
            "under noeviction, writes fail with -OOM at the limit" if store
            else "the node evicts keys on every write: a cache whose hit rate drops",
            "raise maxmemory (`redisops tune memory`), delete or expire data, or scale out "
            "(`redisops scale cluster --masters N`)",
            details={"used": int(used), "maxmemory": int(maxmemory), "policy": policy}))
    return out


def _evictions(info: Mapping[str, str]) -> list[Finding]:
    evicted = int(_num(info, "evicted_keys"))
    if not evicted:
        return []
    policy = info.get("maxmemory_policy", "")
    cache = policy.startswith("allkeys-")
    return [Finding(
        "memory.evictions", Severity.INFO if cache else Severity.WARNING,
        f"{evicted} keys evicted since start ({policy})",
        "a cache evicts by design" if cache else
        "a volatile-* policy evicts only keys with a TTL: keys your application may expect to find",
        "if this is a store, raise maxmemory (`redisops tune memory --role store`); if a cache, ignore",
        details={"evicted_keys": evicted, "policy": policy})]


def _persistence(info: Mapping[str, str], limits: Thresholds) -> list[Finding]:
    out = []
    if info.get("rdb_last_bgsave_status", "ok") != "ok":
        out.append(Finding(
            "persistence.rdb-failed", Severity.ERROR, "the last background save (BGSAVE) failed",
            "with stop-writes-on-bgsave-error yes (the default) the node refuses writes with -MISCONF until a "
            "save succeeds; without it the snapshot on disk is stale",
            "read the node's log (`redisops logs scan`): disk full, permissions of `dir`, or fork failing "
            "(vm.overcommit_memory=1); then `BGSAVE`"))
    if info.get("aof_enabled") == "1" and info.get("aof_last_write_status", "ok") != "ok":
        out.append(Finding(
            "persistence.aof-write-failed", Severity.ERROR, "the last write to the AOF failed",
            "writes acknowledged since then may not be on disk; Redis refuses writes while it cannot write the AOF",
            "free disk space or fix permissions of the AOF directory (`redisops logs scan` shows the error)"))
    if info.get("aof_last_bgrewrite_status", "ok") != "ok":
        out.append(Finding(
            "persistence.aof-rewrite-failed", Severity.ERROR, "the last AOF rewrite failed",
            "the AOF keeps growing and a restart replays all of it",
            "read the node's log; then `BGREWRITEAOF`"))
    fork = int(_num(info, "latest_fork_usec"))
    if fork > limits.fork_usec:
        out.append(Finding(
            "persistence.slow-fork", Severity.WARNING, f"the last fork took {fork / 1e6:.2f} s",
            "the node answers nothing while it forks, at every BGSAVE, AOF rewrite and full resync",
            "keep each node's dataset smaller (more shards), disable transparent huge pages, avoid running on "
            "a VM with slow page-table copies",
            details={"latest_fork_usec": fork}))
    return out


def _replication(info: Mapping[str, str], limits: Thresholds) -> list[Finding]:
    if info.get("role") == "slave":
        return _replica(info)
    out = []
    master_offset = int(_num(info, "master_repl_offset"))
    for link in parse_replica_links(info):
        behind = max(0, master_offset - link.offset)
        if link.state != "online":
            out.append(Finding(
                "replication.replica-syncing", Severity.WARNING, f"replica {link.address} is {link.state}",
                "until it is online it holds no usable copy: a failover to it would lose data",
                "wait for the sync to finish; if it restarts over and over, raise client-output-buffer-limit "
                "replica (`redisops logs scan` shows output-buffer disconnects)",
                details={"replica": str(link.address), "state": link.state}))
        elif link.lag_seconds > limits.replica_lag_s:
            out.append(Finding(
                "replication.lag", Severity.WARNING,
                f"replica {link.address} lags: last ACK {link.lag_seconds} s ago, {behind} bytes behind",
                "writes acknowledged by the master are not on this replica yet: a failover now loses them; "
                "once the gap passes repl-backlog-size, a reconnect needs a full resync",
                "check the replica's host (CPU, disk, network) and `redisops status`; for bulk writes raise "
                "repl-backlog-size",
                details={"replica": str(link.address), "lag_s": link.lag_seconds, "bytes_behind": behind}))
    return out


def _replica(info: Mapping[str, str]) -> list[Finding]:
    master = f"{info.get('master_host', '?')}:{info.get('master_port', '?')}"
    if info.get("master_link_status", "up") != "up":
        down = int(_num(info, "master_link_down_since_seconds", -1))
        since = f" for {down} s" if down >= 0 else ""
        return [Finding(
            "replication.link-down", Severity.ERROR, f"link to master {master} is down{since}",
            "the replica serves stale data and is no failover candidate once down longer than Sentinel allows",
            "is the master up? `redisops status`; a master that died is replaced by Sentinel / the cluster, "
            "or restarted by `redisops up`",
            details={"master": master, "down_s": down})]
    if info.get("master_sync_in_progress") == "1":
        return [Finding(
            "replication.full-sync", Severity.WARNING, f"full sync from {master} in progress",
            "the replica holds no usable dataset until the transfer completes",
            "wait; if it repeats, see `redisops logs scan` for output-buffer or timeout disconnects",
            details={"master": master})]
    return []


def _clients(info: Mapping[str, str], config: Mapping[str, str], limits: Thresholds) -> list[Finding]:
    out = []
    rejected = int(_num(info, "rejected_connections"))
    if rejected:
        out.append(Finding(
            "clients.rejected", Severity.WARNING, f"{rejected} connections rejected (maxclients reached)",
            "clients got `-ERR max number of clients reached` and failed",
            "raise maxclients (and the open-files limit) or fix a connection leak: pool your clients",
            details={"rejected_connections": rejected}))
    maxclients = _num(config, "maxclients")
    connected = _num(info, "connected_clients")
    if maxclients and connected / maxclients >= limits.clients_near_limit:
        out.append(Finding(
            "clients.near-limit", Severity.WARNING, f"{int(connected)} of {int(maxclients)} client slots in use",
            "new connections are refused at the limit", "raise maxclients or pool connections",
            details={"connected": int(connected), "maxclients": int(maxclients)}))
    return out

"""Host checks from ``/proc`` and ``/sys``: what Redis itself warns about at start (``src/syscheck.c``).

Only for nodes on this machine (the doctor reads this machine's files): a node on
another host is not judged by this one's kernel.  ``root`` is ``/`` except in tests,
which point it at a directory holding the same file names.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redisops.errors import MissingBinaryError
from redisops.observe.doctor.model import Finding, Severity
from redisops.observe.doctor.rules import mib
from redisops.runtime.host import is_local, read_host_settings

__all__ = ["HostInput", "host_findings", "intrinsic_findings", "intrinsic_latency", "is_local",
           "merge_inputs", "parse_intrinsic", "read_host"]

#: the host alone stalling a process this long (µs) shows in every command's latency: a warning
INTRINSIC_WARN_US = 5000



@dataclass(frozen=True)
class HostInput:
    """What the nodes on this host say about themselves, for the host rules."""

    tcp_backlog: int = 511  # the largest tcp-backlog of the nodes
    disable_thp: bool = True  # every node has disable-thp yes (Redis >= 6.2 turns THP off for itself)
    maxmemory_total: int = 0  # sum of the nodes' maxmemory
    unlimited: int = 0  # nodes with maxmemory 0


def read_host(root: Path = Path("/")) -> dict[str, Any]:
    settings = read_host_settings(root)
    overcommit = settings.overcommit_memory
    return {"overcommit_memory": None if overcommit is None else str(overcommit),
            "transparent_hugepage": settings.transparent_hugepage, "somaxconn": settings.somaxconn,
            "mem_total": settings.mem_total}


def host_findings(figures: dict[str, Any], nodes: HostInput) -> list[Finding]:
    out = []
    overcommit = figures.get("overcommit_memory")
    if overcommit is not None and overcommit != "1":
        out.append(Finding(
            "host.overcommit", Severity.WARNING, f"vm.overcommit_memory is {overcommit}, not 1",
            "BGSAVE, AOF rewrite and full syncs fork; under 0 the kernel may refuse the fork of a large node "
            "(`Can't save in background: fork: Cannot allocate memory`), and the node stops taking writes",
            "`sysctl vm.overcommit_memory=1`, and `vm.overcommit_memory = 1` in /etc/sysctl.d/90-redis.conf"))
    if figures.get("transparent_hugepage") == "always":
        out.append(Finding(
            "host.thp", Severity.INFO if nodes.disable_thp else Severity.WARNING,
            "transparent huge pages are set to [always]",
            "after a fork every written page copies 2 MB instead of 4 KB: latency spikes and memory doubling "
            "during saves" + (" (the nodes turn THP off for themselves: disable-thp yes)" if nodes.disable_thp
                              else ""),
            "`echo madvise > /sys/kernel/mm/transparent_hugepage/enabled` (or never), at boot too"))
    somaxconn = figures.get("somaxconn")
    if somaxconn is not None and somaxconn < nodes.tcp_backlog:
        out.append(Finding(
            "host.somaxconn", Severity.WARNING,
            f"net.core.somaxconn {somaxconn} is below tcp-backlog {nodes.tcp_backlog}",
            "the kernel caps the accept queue: bursts of new connections are dropped or delayed",
            f"`sysctl net.core.somaxconn={max(nodes.tcp_backlog, 1024)}` and the same in /etc/sysctl.d"))
    total = figures.get("mem_total")
    if total and nodes.maxmemory_total > total:
        out.append(Finding(
            "host.maxmemory-overcommitted", Severity.WARNING,
            f"the nodes' maxmemory adds up to {mib(nodes.maxmemory_total)}, more than the host's RAM {mib(total)}",
            "the nodes can fill the host before any reaches its limit: swapping, or the OOM killer",
            "`redisops tune memory --apply` divides the RAM among the nodes on this host",
            details={"maxmemory_total": nodes.maxmemory_total, "mem_total": total}))
    return out


def merge_inputs(configs: Sequence[dict[str, str]]) -> HostInput:
    """The :class:`HostInput` of the nodes' CONFIG GET values."""
    backlog = max((int(c.get("tcp-backlog", 511) or 511) for c in configs), default=511)
    disable = all(c.get("disable-thp", "yes") == "yes" for c in configs)
    limits = [int(c.get("maxmemory", 0) or 0) for c in configs]
    return HostInput(backlog, disable, sum(limits), sum(1 for m in limits if m == 0))


def intrinsic_latency(seconds: int) -> dict[str, float]:
    """``redis-cli --intrinsic-latency``: how long this host stalls a process that does nothing but run."""
    binary = shutil.which("redis-cli")
    if binary is None:
        raise MissingBinaryError("redis-cli", "redis-tools")
    done = subprocess.run([binary, "--intrinsic-latency", str(seconds)], capture_output=True, text=True,
                          timeout=seconds + 10, check=False)
    return parse_intrinsic(done.stdout)


def parse_intrinsic(text: str) -> dict[str, float]:
    """``Max latency so far: N microseconds.`` (the last) and ``avg latency: X microseconds``; {} if absent."""
    maxima = re.findall(r"Max latency so far: (\d+) microseconds", text)
    average = re.search(r"avg latency: ([\d.]+) microseconds", text)
    if not maxima or average is None:
        return {}
    return {"max_us": float(maxima[-1]), "avg_us": float(average.group(1))}


def intrinsic_findings(figures: dict[str, float]) -> list[Finding]:
    worst = figures.get("max_us")
    if worst is None or worst < INTRINSIC_WARN_US:
        return []
    return [Finding(
        "host.intrinsic-latency", Severity.WARNING,
        f"this host stalled a busy process for {worst / 1000:.1f} ms (redis-cli --intrinsic-latency)",
        "Redis cannot answer faster than its host lets it run: every command may wait that long, whatever "
        "Redis does (a VM's CPU steal, other busy processes, power saving)",
        "give Redis dedicated CPUs (no overcommitted VM, no noisy neighbours), performance CPU governor",
        details=figures)]

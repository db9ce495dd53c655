"""Checks on the machine the nodes run on and on what they listen on (live layer)."""

from __future__ import annotations

from collections.abc import Iterator

from redisops.security.audit.host import fixed_after
from redisops.security.audit.model import Kind, Severity, Target
from redisops.security.audit.registry import HOST, LIVE, NODES, Hit, check

__all__: list[str] = []


@check("RA032", Severity.MEDIUM, "vm.overcommit_memory is not 1",
       explanation="With overcommit_memory 0 the kernel may refuse the fork of BGSAVE / AOF rewrite / full "
                   "sync on a large dataset (\"Can't save in background: fork: Cannot allocate memory\"); Redis "
                   "warns about it at every start.",
       fix="`sysctl -w vm.overcommit_memory=1` and `vm.overcommit_memory = 1` in /etc/sysctl.d/99-redis.conf",
       layers=LIVE, kinds=HOST)
def _overcommit(target: Target) -> Iterator[Hit]:
    value = target.host.overcommit_memory if target.host else None
    if value is not None and value != 1:
        yield Hit(f"vm.overcommit_memory = {value}")


@check("RA033", Severity.LOW, "transparent huge pages always on",
       explanation="THP 'always' makes every fork's copy-on-write copy 2 MB pages: latency spikes and memory "
                   "bloat during BGSAVE; Redis warns about it.",
       fix="`echo madvise > /sys/kernel/mm/transparent_hugepage/enabled` (and at boot)", layers=LIVE, kinds=HOST)
def _thp(target: Target) -> Iterator[Hit]:
    mode = target.host.transparent_hugepage if target.host else None
    if mode == "always":
        yield Hit("transparent_hugepage = always")


@check("RA034", Severity.LOW, "somaxconn below tcp-backlog",
       explanation="The kernel caps the accept queue at net.core.somaxconn: a smaller value than Redis's "
                   "tcp-backlog (511) drops connections under a burst.",
       fix="`sysctl -w net.core.somaxconn=1024` (and in /etc/sysctl.d)", layers=LIVE, kinds=HOST)
def _somaxconn(target: Target) -> Iterator[Hit]:
    value = target.host.somaxconn if target.host else None
    backlog = int(target.info.get("tcp_backlog", "511"))
    if value is not None and value < backlog:
        yield Hit(f"net.core.somaxconn = {value} < tcp-backlog {backlog}")


@check("RA035", Severity.MEDIUM, "listening on unexpected ports",
       explanation="The node's process listens on ports beyond its data port, TLS port and cluster bus: each "
                   "one is a way in the firewall rules were not written for.",
       fix="find the setting that opened it (`CONFIG GET *port*`) and set it to 0, or add the port to the spec",
       layers=LIVE, kinds=NODES)
def _ports(target: Target) -> Iterator[Hit]:
    if target.listening is None:
        return
    extra = sorted(target.listening - expected_ports(target))
    if extra:
        yield Hit(f"also listening on port{'s' if len(extra) > 1 else ''} {', '.join(map(str, extra))}")


def expected_ports(target: Target) -> frozenset[int]:
    """The spec's ports for the node (else its own port and TLS port), and its cluster bus port.

    With a spec the spec decides: a ``tls-port`` someone set at runtime on a node
    the spec runs in plaintext is a port nobody wrote a firewall rule for.
    """
    default = 26379 if target.kind is Kind.SENTINEL else 6379
    port = target.number("port", default)
    ports = set(target.expected_ports) or {port, target.number("tls-port")}
    if target.flag("cluster-enabled") == "yes":
        bus = target.number("cluster-port")
        ports.add(bus or (port or target.number("tls-port")) + 10000)
    return frozenset(p for p in ports if p)


@check("RA036", Severity.HIGH, "Redis package with known fixed CVEs",
       explanation="The installed Debian redis-server is older than Debian's security updates: the CVEs they "
                   "fix are open here (INFO's redis_version stays 7.0.15 across them, dpkg says which).",
       fix="`sudo apt-get update && sudo apt-get install --only-upgrade redis-server redis-sentinel`, then "
           "restart the nodes one by one", layers=LIVE, kinds=HOST)
def _cves(target: Target) -> Iterator[Hit]:
    installed = target.host.redis_package if target.host else None
    if not installed:
        return
    missing = fixed_after(installed)
    if missing:
        newest = missing[-1].fixed  # the table is in version order
        ids = ", ".join(f.cve for f in missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        yield Hit(f"redis-server {installed} lacks {len(missing)} fixes up to {newest}: {ids}")

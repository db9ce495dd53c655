"""A :class:`~redisops.security.firewall.rules.Ruleset` as an nftables script or an iptables-restore file.

Both touch only what is the deployment's own, so applying or removing them
never changes anyone else's rules:

- **nftables**: one table, ``inet redisops_<name>`` (IPv4 and IPv6 at once),
  with one base chain on the input hook.  The script first creates the table
  if it is missing and then deletes it, before declaring it anew: ``nft -f``
  runs a file as one transaction, so loading it replaces the table as a whole,
  atomically, however often it is loaded.
- **iptables** (IPv4): one chain, ``REDISOPS-<NAME>``, for ``iptables-restore
  --noflush`` (which flushes a declared chain and leaves every other rule be),
  and one jump to it at the top of INPUT for exactly the deployment's ports.
  IPv6 networks are left out (iptables is IPv4 only; nftables' inet table
  covers both).

Rules are rendered in the ruleset's order, so the same spec always gives the
same bytes; the last rule of each carries the ruleset's tag (deployment and
digest), which ``firewall status`` reads back.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from redisops.security.firewall.rules import Network, PortRange, Ruleset

__all__ = ["DROP_NOTE", "MULTIPORT_RANGES", "jump_rules", "render_iptables", "render_nftables"]

#: iptables' multiport match takes 15 ports, a range counting as two: 7 ranges a rule
MULTIPORT_RANGES = 7
DROP_NOTE = "everything else to these ports"


def render_nftables(rules: Ruleset) -> str:
    table = rules.table
    lines = [
        "#!/usr/sbin/nft -f",
        f"# redisops firewall for deployment {rules.deployment!r}, generated from its spec: do not edit, change the",
        "# spec and run `redisops firewall apply` again (or `nft -f` this file).  Undo: `redisops firewall remove`",
        f"# (or `nft delete table inet {table}`).  Only this table is touched: the two lines below create it",
        "# if it is missing and delete it, so loading this file replaces it as a whole, in one transaction.",
        f"table inet {table}",
        f"delete table inet {table}",
        "",
        f"table inet {table} {{",
        f'\tcomment "{rules.tag}"',
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy accept;",
    ]
    for service in rules.services:
        lines.append(f"\t\t# {service.label}: {_audience(service.clients)}members {_join(service.members)}")
        for family, networks in _by_family(service.sources):
            lines.append(f"\t\ttcp dport {_nft_set(service.ports)} {family} saddr {_nft_set(networks)} accept "
                         f'comment "{service.label}"')
    lines.append(f'\t\ttcp dport {_nft_set(rules.ports)} drop comment "{rules.tag}: {DROP_NOTE}"')
    lines += ["\t}", "}", ""]
    return "\n".join(lines)


def render_iptables(rules: Ruleset, *, stale_jumps: Sequence[str] = ()) -> str:
    """The iptables-restore file; ``stale_jumps`` (``-A INPUT ...`` lines already there) are deleted first."""
    chain = rules.chain
    lines = [
        f"# redisops firewall for deployment {rules.deployment!r}, generated from its spec: do not edit, change the",
        "# spec and run `redisops firewall apply --format iptables` again (or `iptables-restore --noflush` this",
        f"# file).  Undo: `redisops firewall remove --format iptables`.  Only chain {chain} and its jump from",
        "# INPUT are touched.",
    ]
    skipped = sorted({str(n) for s in rules.services for n in s.sources if n.version == 6})
    if skipped:
        lines.append(f"# IPv6 is not filtered here (iptables is IPv4 only): {', '.join(skipped)} left out; "
                     "--format nftables covers both")
    lines += ["*filter", f":{chain} - [0:0]"]
    lines += [line.replace("-A INPUT ", "-D INPUT ", 1) for line in stale_jumps]
    for service in rules.services:
        for network in service.sources:
            if network.version == 4:
                lines += [f"-A {chain} -s {network} -p tcp -m multiport --dports {ports} "
                          f'-m comment --comment "{service.label}" -j ACCEPT' for ports in _multiport(service.ports)]
    lines += [f"-A {chain} -p tcp -m multiport --dports {ports} -m comment --comment \"{rules.tag}: {DROP_NOTE}\" "
              "-j DROP" for ports in _multiport(rules.ports)]
    lines += [f"-I {rule}" for rule in jump_rules(rules)]
    lines += ["COMMIT", ""]
    return "\n".join(lines)


def jump_rules(rules: Ruleset) -> list[str]:
    """INPUT's jumps to the chain, as ``iptables -S`` prints them without ``-A ``: one per 7 port ranges."""
    return [f'INPUT -p tcp -m multiport --dports {ports} -m comment --comment "{rules.tag}" -j {rules.chain}'
            for ports in _multiport(rules.ports)]


def _multiport(ports: Sequence[PortRange]) -> list[str]:
    chunks = [ports[i:i + MULTIPORT_RANGES] for i in range(0, len(ports), MULTIPORT_RANGES)]
    return [",".join(str(p).replace("-", ":") for p in chunk) for chunk in chunks]


def _nft_set(items: Sequence[object]) -> str:
    texts = [_nft_item(i) for i in items]
    return texts[0] if len(texts) == 1 else "{ " + ", ".join(texts) + " }"


def _nft_item(item: object) -> str:
    if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network) and item.num_addresses == 1:
        return str(item.network_address)
    return str(item)


def _by_family(networks: Sequence[Network]) -> list[tuple[str, list[Network]]]:
    out: list[tuple[str, list[Network]]] = []
    for family, version in (("ip", 4), ("ip6", 6)):
        nets = [n for n in networks if n.version == version]
        if nets:
            out.append((family, nets))
    return out


def _audience(clients: Sequence[Network]) -> str:
    return f"clients {_join(clients)}, " if clients else ""


def _join(networks: Sequence[Network]) -> str:
    return ", ".join(_nft_item(n) for n in networks) or "none"

"""``redisops firewall``: the deployment's ports open to its client networks and members only.

:func:`build_ruleset` turns a plan into rules (who may reach which port);
:func:`render_nftables` / :func:`render_iptables` write them for one backend;
:class:`Firewall` applies, removes and checks them in the kernel, touching only
the deployment's own nftables table or iptables chain.
"""

from redisops.security.firewall.render import render_iptables, render_nftables
from redisops.security.firewall.rules import PortRange, Role, Ruleset, Service, build_ruleset
from redisops.security.firewall.system import (
    Backend,
    Firewall,
    FirewallError,
    FirewallStatus,
    NotRootError,
    State,
)

__all__ = [
    "Backend",
    "Firewall",
    "FirewallError",
    "FirewallStatus",
    "NotRootError",
    "PortRange",
    "Role",
    "Ruleset",
    "Service",
    "State",
    "build_ruleset",
    "render",
    "render_iptables",
    "render_nftables",
]


def render(rules: Ruleset, backend: Backend) -> str:
    """The file ``firewall apply`` would load for ``backend`` (for iptables: on a firewall without its jumps)."""
    return render_nftables(rules) if backend is Backend.NFTABLES else render_iptables(rules)

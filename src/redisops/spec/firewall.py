"""Which networks may reach the deployment's ports (``redisops firewall``).

Members of a Sentinel group or of the cluster always reach each other (their
addresses come from ``hosts``); ``clients`` are the networks of the
applications, of redisops itself and of the monitoring.  The default is
loopback only, what the local runtime binds anyway: a firewall rendered from a
spec that names no clients refuses every other address.
"""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from redisops.spec.base import SpecModel

__all__ = ["FirewallSpec"]


class FirewallSpec(SpecModel):
    """Client networks allowed to the data and sentinel ports; cluster bus ports are for members only."""

    #: CIDRs (``10.0.0.0/24``, ``192.0.2.7/32``, ``2001:db8::/64``) or single addresses
    clients: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])

    @field_validator("clients")
    @classmethod
    def _networks(cls, clients: list[str]) -> list[str]:
        out: list[str] = []
        for text in clients:
            try:
                network = ipaddress.ip_network(text.strip(), strict=True)
            except ValueError as exc:
                raise ValueError(_why(text)) from exc
            if str(network) in out:
                raise ValueError(f"{text!r} is listed twice")
            out.append(str(network))
        return out


def _why(text: str) -> str:
    try:
        wide = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return f"{text!r} is not a network: write a CIDR such as 10.0.0.0/24 or an address such as 192.0.2.7"
    address = text.strip().partition("/")[0]
    return f"{text!r} has host bits set: write the network {wide}, or the one address {address}/{wide.max_prefixlen}"

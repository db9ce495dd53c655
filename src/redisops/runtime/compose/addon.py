"""What a higher layer adds to a Compose project: services, their files and volumes, and lines for the nodes.

The runtime renders the nodes; monitoring (:mod:`redisops.observe.compose`) sits above it and cannot be imported
from here, so it hands its part over as a :class:`ComposeAddon` that :func:`~.render.compose_files` merges in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from redisops.runtime.compose.output import OutputFile
from redisops.runtime.plan import NodeKind

__all__ = ["ComposeAddon"]


@dataclass(frozen=True)
class ComposeAddon:
    """Services to add, and what the node containers need for them.

    ``env``: variables added to ``redisops.env`` (mode 0600), which every node reads;
    ``auth_lines``: lines added to each node's ``auth.conf`` by kind, written at every container start and
    free to use those variables (``${EXPORTER_PASSWORD}``).  CONFIG REWRITE (on failover) and SENTINEL's own
    rewrites copy an ACL user into the main conf, and Redis refuses a user defined twice, so the start script
    removes every copy of what auth.conf sets before it includes ``auth.conf`` again.
    """

    services: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    volumes: tuple[str, ...] = ()
    files: Mapping[str, OutputFile] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    auth_lines: Mapping[NodeKind, tuple[str, ...]] = field(default_factory=dict)
    #: lines for the header comment of docker-compose.yml (how to reach what was added)
    header: tuple[str, ...] = ()
    #: client certificates the added services log in with, in a TLS project (:mod:`redisops.runtime.compose.tls`)
    tls_clients: tuple[str, ...] = ()

"""Detecting Atomic Slot Migration: the seam between MIGRATE batches and server-side moves.

Redis 8.4 added ``CLUSTER MIGRATION IMPORT|STATUS|CANCEL`` and Valkey 9.0
``CLUSTER MIGRATESLOTS``: the server moves whole slot ranges itself, with a
brief write pause instead of per-key ASK redirects.  A cluster can use it only
when *every* node knows the command (a mixed-version cluster during an upgrade
does not), so each node is asked ``COMMAND INFO cluster|migration
cluster|migrateslots`` (container|subcommand names exist since 7.0; an unknown
one answers nil).  Older servers that reject the ``a|b`` form count as "no".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

__all__ = ["ASM_PROBE", "Strategy", "choose_strategy", "supported"]

#: the probe each node is sent; replies come back in this order
ASM_PROBE: tuple[str, ...] = ("COMMAND", "INFO", "cluster|migration", "cluster|migrateslots")


class Strategy(Enum):
    MIGRATE = "migrate"  # our batched, journalled MIGRATE loop (every Redis version)
    REDIS_ASM = "redis-asm"  # CLUSTER MIGRATION IMPORT (Redis >= 8.4)
    VALKEY_ASM = "valkey-asm"  # CLUSTER MIGRATESLOTS (Valkey >= 9.0)


def supported(reply: Any) -> frozenset[Strategy]:
    """What one node's reply to :data:`ASM_PROBE` says it can do (an error reply: nothing)."""
    if not isinstance(reply, Sequence) or isinstance(reply, (str, bytes)) or len(reply) != 2:
        return frozenset()
    found = {Strategy.REDIS_ASM: reply[0], Strategy.VALKEY_ASM: reply[1]}
    return frozenset(kind for kind, info in found.items() if _is_command_info(info))


def _is_command_info(info: Any) -> bool:
    return isinstance(info, Sequence) and not isinstance(info, (str, bytes)) and len(info) > 0


def choose_strategy(replies: Mapping[str, Any]) -> Strategy:
    """The strategy every node supports; MIGRATE unless all of them agree on one ASM flavour."""
    if not replies:
        return Strategy.MIGRATE
    common = frozenset.intersection(*(supported(r) for r in replies.values()))
    for kind in (Strategy.REDIS_ASM, Strategy.VALKEY_ASM):
        if kind in common:
            return kind
    return Strategy.MIGRATE

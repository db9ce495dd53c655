"""Atomic Slot Migration detection from captured ``COMMAND INFO cluster|migration cluster|migrateslots`` replies."""

from __future__ import annotations

from redisops.cluster.asm import Strategy, choose_strategy, supported
from redisops.topology.model import ErrorReply

#: redis-server 7.0.15 (Debian): neither subcommand exists
REDIS_70 = [None, None]
#: Redis 8.4: CLUSTER MIGRATION exists (reply shape of COMMAND INFO, trimmed to the first fields)
REDIS_84 = [["cluster|migration", -3, ["admin", "stale", "noscript"], 0, 0, 0, ["@admin", "@slow"], [], [], []],
            None]
#: Valkey 9.0: CLUSTER MIGRATESLOTS exists
VALKEY_90 = [None, ["cluster|migrateslots", -5, ["admin", "stale", "noscript"], 0, 0, 0, ["@admin"], [], [], []]]
#: a server older than 7.0 rejects the container|subcommand form
REDIS_62 = ErrorReply("ERR unknown subcommand 'INFO'")


def test_what_each_server_supports() -> None:
    assert supported(REDIS_70) == frozenset()
    assert supported(REDIS_84) == {Strategy.REDIS_ASM}
    assert supported(VALKEY_90) == {Strategy.VALKEY_ASM}
    assert supported(REDIS_62) == frozenset()
    assert supported(None) == frozenset()


def test_asm_only_when_every_node_supports_it() -> None:
    assert choose_strategy({"a": REDIS_84, "b": REDIS_84}) is Strategy.REDIS_ASM
    assert choose_strategy({"a": VALKEY_90, "b": VALKEY_90}) is Strategy.VALKEY_ASM
    assert choose_strategy({"a": REDIS_84, "b": REDIS_70}) is Strategy.MIGRATE  # mid-upgrade
    assert choose_strategy({"a": REDIS_84, "b": VALKEY_90}) is Strategy.MIGRATE
    assert choose_strategy({"a": REDIS_70, "b": REDIS_70}) is Strategy.MIGRATE
    assert choose_strategy({}) is Strategy.MIGRATE

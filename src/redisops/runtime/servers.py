"""Which server the local runtime runs as data nodes, and the ACL rules that server needs beyond the common table.

:data:`redisops.runtime.acl.ACL_RULES` holds what every supported server knows.  Rules naming a
command only some servers have cannot go there: Redis 7.0 refuses to start on an ACL rule naming
a subcommand it does not know (``Unknown command or category name in ACL``).  They are added here,
per user, once the server binary's ``--version`` says it has the command:

- Valkey >= 9's atomic slot migration (``CLUSTER MIGRATESLOTS``): the source node logs in to the
  target as its ``masteruser`` (``replication``), both sides send ``CLUSTER SYNCSLOTS``, and the
  target runs the slots' snapshot and the writes that follow *as that user*: ``SELECT``, every
  write command (``@write``) on any key, and ``MULTI``/``EXEC`` around a replicated transaction.
  Without them the target answers ``NOPERM`` and the job fails (found by running the moves with
  nothing granted and reading the target's log).  So on Valkey the replication user can write
  every key, where on Redis it can only read them all (``PSYNC`` sends the whole data set).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping

__all__ = ["SERVER_ENV", "VALKEY_ASM_RULES", "data_server", "extra_rules", "server_version", "with_extra_rules"]

#: names another server binary for the data nodes (see :func:`redisops.runtime.local.find_binaries`)
SERVER_ENV = "REDISOPS_REDIS_SERVER"

#: what Valkey >= 9 needs for atomic slot migration, by user (``MULTI``/``EXEC``: a transaction on a migrating slot
#: reaches the target wrapped in them, as it reaches a replica)
VALKEY_ASM_RULES: Mapping[str, str] = {"replication": "~* +@write +select +multi +exec +cluster|syncslots"}

_VERSION = re.compile(r"^(\w+) server v=(\d+)\.(\d+)\.(\d+)")


def data_server() -> str | None:
    """The data nodes' server binary, as :func:`~redisops.runtime.local.find_binaries` picks it."""
    return os.environ.get(SERVER_ENV) or shutil.which("redis-server")


@functools.cache
def server_version(binary: str) -> tuple[str, tuple[int, int, int]] | None:
    """``("valkey", (9, 1, 2))`` from ``binary --version``; None when it does not run or says something else."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = _VERSION.match(out.strip())
    if found is None:
        return None
    return found.group(1).lower(), (int(found.group(2)), int(found.group(3)), int(found.group(4)))


def extra_rules(binary: str | None) -> Mapping[str, str]:
    """User -> the rules ``binary`` needs beyond the common table (empty for Redis and for an unknown binary)."""
    version = server_version(binary) if binary else None
    if version is not None and version[0] == "valkey" and version[1] >= (9, 0, 0):
        return VALKEY_ASM_RULES
    return {}


def with_extra_rules(lines: Iterable[str], extra: Mapping[str, str]) -> list[str]:
    """auth.conf ``lines`` with each ``user NAME ...`` line of a user in ``extra`` given those rules too."""
    out = []
    for line in lines:
        words = line.split(" ", 2)
        if len(words) == 3 and words[0] == "user" and words[1] in extra:
            line = f"{line} {extra[words[1]]}"
        out.append(line)
    return out

"""Draining slots with batched MIGRATE: list keys with their sizes, group them, send them, handle BUSYKEY.

``MIGRATE`` is atomic per call on the server: the source deletes a key only
after the target stored it, so killing this tool never loses or doubles a key.
Batches are pre-scanned with ``MEMORY USAGE`` (one Lua call per slot): keys
above ``big_key_bytes`` go alone with a longer timeout, and no MIGRATE carries
more than ``max_migrate_bytes``.  A key the target already holds (``BUSYKEY``)
is overwritten only when asked (``replace``) or when both copies are equal,
as ``redis-cli --cluster`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from redisops.auth import migrate_auth
from redisops.cluster.errors import BusyKeyError, SlotMigrationError
from redisops.cluster.move_run import MoverSettings, Run
from redisops.cluster.planner import Move
from redisops.cluster.wire import WirePool

__all__ = ["LIST_AND_SIZE", "check_reply", "groups", "list_keys", "migrate_batches", "pipelined"]

#: one call per slot lists a batch of keys and their sizes: no second round trip, no key sent back and forth
#: (CLUSTER GETKEYSINSLOT and MEMORY USAGE are both allowed in scripts; the keys are local to the source)
LIST_AND_SIZE = ("local keys = redis.call('CLUSTER', 'GETKEYSINSLOT', ARGV[1], ARGV[2]) local sizes = {} "
                 "for i, k in ipairs(keys) do sizes[i] = redis.call('MEMORY', 'USAGE', k) or 0 end "
                 "return {keys, sizes}")


async def pipelined(client: WirePool, commands: Sequence[Sequence[Any]]) -> list[Any]:
    """One round trip for many commands; an error reply stays in its place as an exception value."""
    return await client.call(commands) if commands else []


def check_reply(reply: Any, slot: int, source: str, target: str) -> bool:
    """A pipelined reply: True when it holds something, raise when it is an error."""
    if isinstance(reply, Exception):
        raise SlotMigrationError(slot, source, target, str(reply)) from reply
    return bool(reply)


async def migrate_batches(run: Run, first: Move, batches: Mapping[int, list[bytes]],
                          sizes: Mapping[bytes, int]) -> None:
    """Every slot's MIGRATE groups in one pipeline; big keys alone, after, with their long timeout."""
    plain: list[tuple[int, list[bytes]]] = []
    big: list[tuple[int, list[bytes], int]] = []
    for slot, keys in batches.items():
        for group, timeout in groups(keys, sizes, run.settings):
            if timeout == run.settings.migrate_timeout_ms:
                plain.append((slot, group))
            else:
                big.append((slot, group, timeout))
    nbytes = sum(sizes.get(k, 0) for keys in batches.values() for k in keys)
    await run.throttle.take(sum(len(k) for k in batches.values()), nbytes)
    commands = [_migrate_command(run, first.target, group, run.settings.migrate_timeout_ms, run.settings.replace)
                for _, group in plain]
    replies = await pipelined(run.clients[first.source], commands)
    for (slot, group), reply in zip(plain, replies, strict=True):
        if isinstance(reply, Exception):
            await _migrate_failed(run, Move(slot, first.source, first.target), group, reply,
                                  run.settings.migrate_timeout_ms)
    for slot, group, timeout in big:
        await _migrate(run, Move(slot, first.source, first.target), group, timeout, run.settings.replace)
    run.keys_moved += sum(len(k) for k in batches.values())
    run.bytes_moved += nbytes
    run.report_progress()


async def list_keys(run: Run, first: Move, slots: Sequence[int]) -> tuple[dict[int, list[bytes]], dict[bytes, int]]:
    """Up to ``batch_keys`` keys of each slot that still has some, and their sizes when pre-scanning.

    A slot whose script call fails (scripting disabled by ACL, a key expiring
    in between) is listed again with a plain GETKEYSINSLOT and moves unsized.
    """
    client, batch = run.clients[first.source], run.settings.batch_keys
    sizes: dict[bytes, int] = {}
    batches: dict[int, list[bytes]] = {}
    plain = list(slots)
    if run.settings.prescan:
        replies = await pipelined(client, [("EVAL", LIST_AND_SIZE, 0, s, batch) for s in slots])
        plain = [s for s, r in zip(slots, replies, strict=True) if isinstance(r, Exception)]
        for slot, reply in zip(slots, replies, strict=True):
            if not isinstance(reply, Exception) and reply[0]:
                batches[slot] = list(reply[0])
                sizes.update(zip(reply[0], (int(n) for n in reply[1]), strict=True))
    listed = await pipelined(client, [("CLUSTER", "GETKEYSINSLOT", s, batch) for s in plain])
    for slot, keys in zip(plain, listed, strict=True):
        if check_reply(keys, slot, first.source, first.target):
            batches[slot] = list(keys)
    return batches, sizes


def groups(keys: list[bytes], sizes: Mapping[bytes, int], settings: MoverSettings) -> list[tuple[list[bytes], int]]:
    """Big keys alone (long timeout); the rest in runs under ``max_migrate_bytes``."""
    groups: list[tuple[list[bytes], int]] = []
    current: list[bytes] = []
    current_bytes = 0
    for key in keys:
        size = sizes.get(key, 0)
        if size > settings.big_key_bytes:
            groups.append(([key], settings.big_key_timeout_ms))
            continue
        if current and current_bytes + size > settings.max_migrate_bytes:
            groups.append((current, settings.migrate_timeout_ms))
            current, current_bytes = [], 0
        current.append(key)
        current_bytes += size
    if current:
        groups.append((current, settings.migrate_timeout_ms))
    return groups


def _migrate_command(run: Run, target_id: str, keys: list[bytes], timeout_ms: int, replace: bool) -> list[Any]:
    target = run.view.address(target_id)
    args: list[Any] = ["MIGRATE", target.host, target.port, "", 0, timeout_ms]
    if replace:
        args.append("REPLACE")
    if run.password:
        args += migrate_auth(run.password)
    return [*args, "KEYS", *keys]


async def _migrate(run: Run, move: Move, keys: list[bytes], timeout_ms: int, replace: bool) -> None:
    (reply,) = await run.clients[move.source].call([_migrate_command(run, move.target, keys, timeout_ms, replace)])
    if isinstance(reply, Exception):
        await _migrate_failed(run, move, keys, reply, timeout_ms, replace)


async def _migrate_failed(run: Run, move: Move, keys: list[bytes], exc: Exception, timeout_ms: int,
                          replace: bool = False) -> None:
    """BUSYKEY is handled as redis-cli does; anything else fails the slot."""
    if not str(exc).startswith("BUSYKEY") or replace:
        raise SlotMigrationError(move.slot, move.source, move.target, str(exc),
                                 retryable="IOERR" in str(exc)) from exc
    if run.settings.replace or await _same_values(run, move, keys):
        await _migrate(run, move, keys, timeout_ms, replace=True)
        return
    raise BusyKeyError(move.slot, str(run.view.address(move.source)), str(run.view.address(move.target)), keys)


async def _same_values(run: Run, move: Move, keys: list[bytes]) -> bool:
    """Digests on both sides; False when DEBUG is disabled (the default since 7.0), so we cannot tell."""
    (source,) = await run.clients[move.source].call([("DEBUG", "DIGEST-VALUE", *keys)])
    _, target = await run.clients[move.target].call([("ASKING",), ("DEBUG", "DIGEST-VALUE", *keys)])
    if isinstance(source, Exception) or isinstance(target, Exception):
        return False
    missing = b"0" * 40
    return all(s == t or t == missing for s, t in zip(source, target, strict=True))

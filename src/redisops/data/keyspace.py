"""Where keys live: one node, or a cluster's masters routed by slot.

A :class:`KeySpace` hands out SCAN batches node by node, and reads the state
of any key from the node that should hold it.  Comparing two key spaces this
way works across shapes: a Sentinel master against a restored copy, or a
3-shard cluster against a 4-shard one after resharding.

Keys a cluster node holds in a slot it does not own are left out of its SCAN
batches (``redisops verify cluster`` reports them): the digest script may not
touch them there, and no client can read them anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import redis
from redis.crc import key_slot

from redisops.address import Address
from redisops.auth import Credential, redis_kwargs
from redisops.clients import shared_tls
from redisops.data.digest import DigestMode, KeyState, NodeReader

__all__ = ["KeySpace", "Sharded", "Single", "choose_mode", "connect", "in_ranges", "open_reader"]

T = TypeVar("T")

Ranges = tuple[tuple[int, int], ...]


def connect(address: Address, password: Credential, *, readonly: bool = False,
            timeout: float = 10.0) -> redis.Redis:
    """A single-connection, bytes-in-bytes-out client; ``READONLY`` for reading a cluster replica."""
    client = shared_tls(redis.Redis(address.host, address.port, **redis_kwargs(password), socket_timeout=timeout,
                                    socket_connect_timeout=timeout, single_connection_client=True, protocol=2))
    if readonly:
        client.execute_command("READONLY")
    return client


def open_reader(address: Address, password: Credential, *, readonly: bool = False,
                timeout: float = 10.0) -> NodeReader:
    """A reader that can :meth:`~NodeReader.fork` itself onto another connection."""
    def factory() -> redis.Redis:
        return connect(address, password, readonly=readonly, timeout=timeout)

    return NodeReader(factory(), factory=factory)


def in_ranges(slot: int, ranges: Ranges) -> bool:
    return any(first <= slot <= last for first, last in ranges)


@dataclass
class Single:
    """One node; ``owned`` limits SCAN results to those slots (a cluster shard)."""

    address: Address
    reader: NodeReader
    owned: Ranges | None = None

    @property
    def label(self) -> str:
        return str(self.address)

    @property
    def readers(self) -> tuple[NodeReader, ...]:
        return (self.reader,)

    def scan_batches(self, count: int) -> Iterator[tuple[NodeReader, list[bytes]]]:
        yield from _scan(self.reader, count, self.owned)

    def states(self, keys: Sequence[bytes]) -> list[KeyState]:
        return self.reader.states(keys)

    def exists(self, keys: Sequence[bytes]) -> list[bool]:
        return self.reader.exists(keys)

    def owner(self, key: bytes) -> NodeReader | None:
        return self.reader

    def batch_digest(self, keys: Sequence[bytes]) -> str | None:
        return self.reader.batch_digest(keys)

    def count_existing(self, keys: Sequence[bytes]) -> int:
        return self.reader.count_existing(keys)

    def fork(self) -> Single | None:
        reader = self.reader.fork()
        return None if reader is None else Single(self.address, reader, self.owned)

    def close(self) -> None:
        self.reader.client.close()


@dataclass
class Sharded:
    """A cluster's masters; ``shards`` maps each master to the slot ranges it owns."""

    label: str
    shards: tuple[tuple[Address, NodeReader, Ranges], ...]
    _owner: dict[int, NodeReader] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for _, reader, ranges in self.shards:
            for first, last in ranges:
                self._owner.update(dict.fromkeys(range(first, last + 1), reader))

    @property
    def readers(self) -> tuple[NodeReader, ...]:
        return tuple(reader for _, reader, _ in self.shards)

    def scan_batches(self, count: int) -> Iterator[tuple[NodeReader, list[bytes]]]:
        for _, reader, ranges in self.shards:
            yield from _scan(reader, count, ranges)

    def states(self, keys: Sequence[bytes]) -> list[KeyState]:
        return self._routed(keys, NodeReader.states, KeyState("none", -2, ""))

    def exists(self, keys: Sequence[bytes]) -> list[bool]:
        return self._routed(keys, NodeReader.exists, False)

    def owner(self, key: bytes) -> NodeReader | None:
        return self._owner.get(key_slot(key))

    def batch_digest(self, keys: Sequence[bytes]) -> str | None:
        """None: a batch spans several nodes, so there is no single hash to compare."""
        del keys
        return None

    def count_existing(self, keys: Sequence[bytes]) -> int:
        return sum(self.exists(keys))

    def _routed(self, keys: Sequence[bytes], read: Callable[[NodeReader, Sequence[bytes]], list[T]],
                unowned: T) -> list[T]:
        """Group keys by owning node, read each group, put the answers back in key order."""
        groups: dict[int, tuple[NodeReader, list[int]]] = {}
        for i, key in enumerate(keys):
            reader = self._owner.get(key_slot(key))
            if reader is not None:
                groups.setdefault(id(reader), (reader, []))[1].append(i)
        out: list[T] = [unowned] * len(keys)
        for reader, positions in groups.values():
            for pos, value in zip(positions, read(reader, [keys[p] for p in positions]), strict=True):
                out[pos] = value
        return out

    def fork(self) -> Sharded | None:
        shards = []
        for address, reader, ranges in self.shards:
            forked = reader.fork()
            if forked is None:
                return None
            shards.append((address, forked, ranges))
        return Sharded(self.label, tuple(shards))

    def close(self) -> None:
        for _, reader, _ in self.shards:
            reader.client.close()


KeySpace = Single | Sharded


def choose_mode(*spaces: KeySpace) -> DigestMode:
    """Lua when every node runs the script, else the client-side digest everywhere."""
    readers = [r for space in spaces for r in space.readers]
    mode = DigestMode.LUA if all(r.mode is DigestMode.LUA for r in readers) else DigestMode.CLIENT
    for reader in readers:
        reader.force(mode)
    return mode


def _scan(reader: NodeReader, count: int, owned: Ranges | None) -> Iterator[tuple[NodeReader, list[bytes]]]:
    cursor = 0
    while True:
        cursor, found = reader.client.scan(cursor, count=count)
        keys: list[bytes] = [k for k in found if isinstance(k, bytes)]
        if owned is not None:
            keys = [k for k in keys if in_ranges(key_slot(k), owned)]
        if keys:
            yield reader, keys
        if cursor == 0:
            return

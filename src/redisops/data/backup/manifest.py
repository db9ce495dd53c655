"""The manifest: what a backup holds, written last as ``manifest.json``.

One backup set is one manifest: a Sentinel group has one shard (slot ranges
empty), a cluster one shard per master with the slot ranges it owned when the
backup was taken.  Checksums cover both the stored (compressed) bytes and the
raw RDB; ``keys`` and ``digest`` come from loading the RDB into a throw-away
server right after the transfer, so ``backup verify`` can prove a copy still
loads into the same data, whatever was written to the source meanwhile.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["FORMAT", "Manifest", "ShardEntry"]

FORMAT = 1


@dataclass(frozen=True)
class ShardEntry:
    name: str  # "shard-0"; the file is <name>.rdb.zst
    source: str  # host:port the RDB came from
    node_id: str | None  # cluster node id of the source node
    master_id: str | None  # cluster node id of the master whose slots these are
    role: str  # master / replica: which node served the snapshot
    slots: tuple[tuple[int, int], ...]
    keys: int | None  # keys in the RDB (None when --no-digest)
    digest: str | None  # XOR of per-key digests (None when --no-digest)
    raw_size: int
    raw_sha256: str
    stored_size: int
    stored_sha256: str
    redis_version: str

    @property
    def file(self) -> str:
        return f"{self.name}.rdb.zst"


@dataclass(frozen=True)
class Manifest:
    id: str
    created: str  # ISO 8601 UTC
    kind: str  # "sentinel" or "cluster"
    source: str  # group name or cluster name
    shards: tuple[ShardEntry, ...]
    compression: str = "zstd"
    format: int = FORMAT
    duration_s: float = 0.0

    @property
    def keys(self) -> int | None:
        counts = [s.keys for s in self.shards]
        return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)

    @property
    def stored_size(self) -> int:
        return sum(s.stored_size for s in self.shards)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data: dict[str, Any] = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"manifest format {data.get('format')!r}, expected {FORMAT}")
        shards = tuple(ShardEntry(**{**s, "slots": tuple(tuple(r) for r in s["slots"])}) for s in data["shards"])
        return cls(**{**data, "shards": shards})

"""The move journal: a JSONL file that lets a killed rebalance finish where it stopped.

Records, one JSON object a line::

    {"kind": "plan", "cluster": [node ids], "moves": [{"slot", "source", "target"}, ...]}
    {"kind": "slot", "slot": 42, "state": "started"}     # SETSLOT IMPORTING/MIGRATING follow
    {"kind": "slot", "slot": 42, "state": "done"}        # SETSLOT NODE sent everywhere
    {"kind": "end"}                                      # every move done

Why it is enough: the cluster itself stores the rest.  A slot the journal
calls started but not done is, on the nodes, either still MIGRATING/IMPORTING
(keys moved so far sit on the target, the rest on the source; MIGRATE deletes a
key on the source only after the target stored it, so none is lost or doubled)
or already owned by the target.  Resuming re-runs the slot's idempotent
procedure, which copes with both.  A torn last line (kill -9 mid-write) is
ignored.

Durability: the plan and the end record are ``fsync``'d; slot records are
flushed to the OS at once (a kill -9 of the tool loses none of them) and
``fsync``'d at most once a second -- a lost slot record after a *machine* crash
only makes a resume re-check a slot that was already done.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from redisops.cluster.errors import JournalMismatchError
from redisops.cluster.planner import Move

__all__ = ["Journal", "JournalState", "read_journal"]

SYNC_EVERY_S = 1.0


@dataclass(frozen=True)
class JournalState:
    """What a journal file says: the plan, the cluster it was made for, and how far it got."""

    cluster: frozenset[str]
    moves: tuple[Move, ...]
    started: frozenset[int]
    done: frozenset[int]
    finished: bool

    @property
    def remaining(self) -> tuple[Move, ...]:
        return tuple(m for m in self.moves if m.slot not in self.done)

    def check_cluster(self, path: Path, node_ids: Iterable[str]) -> None:
        """Refuse to touch a cluster whose nodes are not the ones the plan was made for."""
        current = frozenset(node_ids)
        needed = {m.source for m in self.moves} | {m.target for m in self.moves}
        missing = sorted(needed - current)
        if missing:
            raise JournalMismatchError(str(path), f"node {missing[0][:12]} of its plan is not in this cluster")
        if not self.cluster & current:
            raise JournalMismatchError(str(path), "no node id in common")


def read_journal(path: Path) -> JournalState | None:
    """The state recorded in ``path``; None when there is no journal (or only a torn first line)."""
    if not path.exists():
        return None
    records = list(_records(path.read_text(encoding="utf-8").splitlines()))
    if not records or records[0].get("kind") != "plan":
        return None
    plan = records[0]
    slot_states = [(r["slot"], r["state"]) for r in records[1:] if r.get("kind") == "slot"]
    return JournalState(
        cluster=frozenset(plan["cluster"]),
        moves=tuple(Move(m["slot"], m["source"], m["target"]) for m in plan["moves"]),
        started=frozenset(s for s, state in slot_states if state == "started"),
        done=frozenset(s for s, state in slot_states if state == "done"),
        finished=any(r.get("kind") == "end" for r in records),
    )


def _records(lines: Sequence[str]) -> Iterable[dict[str, Any]]:
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # the torn tail of a kill -9
        if isinstance(record, dict):
            yield record


class Journal:
    """Appends records durably.  One writer: the mover's event loop (no locking needed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._synced = 0.0

    def _handle(self) -> IO[str]:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        return self._file

    def write(self, record: dict[str, Any], *, sync: bool = True) -> None:
        handle = self._handle()
        handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        handle.flush()
        now = time.monotonic()
        if sync or now - self._synced >= SYNC_EVERY_S:
            os.fsync(handle.fileno())
            self._synced = now

    def start(self, cluster: Iterable[str], moves: Sequence[Move]) -> None:
        """A fresh journal for a new plan (replaces a finished one)."""
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        self.write({"kind": "plan", "cluster": sorted(cluster), "moves": [m.to_dict() for m in moves]})

    def slot(self, slot: int, state: str) -> None:
        self.write({"kind": "slot", "slot": slot, "state": state}, sync=False)

    def end(self) -> None:
        self.write({"kind": "end"})
        self.close()

    def close(self) -> None:
        if self._file is not None:
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

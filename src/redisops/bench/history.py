"""The history of benchmark runs: one JSON object per line, appended, never rewritten.

A record holds what is needed to judge a later run against it: the per-test
results, the options (a run with 10 clients is no baseline for one with 50),
and the environment (Redis version, host, CPUs, redisops version), so a
regression can be told apart from a changed machine.  JSON lines because a run
only ever appends: a killed run cannot tear the records before it, and a line
that does not parse (a torn last line) is skipped with a note rather than
making the whole history unreadable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redisops.bench.results import TestResult
from redisops.errors import InputError, StateDirError

__all__ = ["BenchOptions", "HistoryError", "Record", "append", "default_history", "read_history"]

FILE_NAME = "history.jsonl"


class HistoryError(InputError):
    """A history file that is missing, unreadable or holds no run."""


@dataclass(frozen=True)
class BenchOptions:
    """What redis-benchmark is asked to do; each field maps to one of its flags."""

    tests: tuple[str, ...] = ("ping", "set", "get", "incr", "lpush", "lpop", "sadd", "hset", "zadd", "mset")
    clients: int = 50  # -c: redis-benchmark's own default
    requests: int = 100_000  # -n: per test; bounds the run
    pipeline: int = 1  # -P
    threads: int = 0  # --threads; 0: redis-benchmark's single event loop
    size: int = 3  # -d: bytes of a SET/GET value, redis-benchmark's default
    keyspace: int = 100_000  # -r: random keys over this many, rather than one hot key
    #: redis-benchmark runs whose per-test medians are recorded: one run on a busy host can be off by half
    repeat: int = 1

    def to_dict(self) -> dict[str, object]:
        return {"tests": list(self.tests), "clients": self.clients, "requests": self.requests,
                "pipeline": self.pipeline, "threads": self.threads, "size": self.size, "keyspace": self.keyspace,
                "repeat": self.repeat}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BenchOptions:
        return cls(tuple(data["tests"]), int(data["clients"]), int(data["requests"]), int(data["pipeline"]),
                   int(data["threads"]), int(data["size"]), int(data["keyspace"]), int(data.get("repeat", 1)))

    def differences(self, other: BenchOptions) -> list[str]:
        """``clients 50 -> 10`` for every option that differs (tests aside: those are compared one by one)."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [f"{key} {theirs[key]} -> {mine[key]}" for key in mine if key != "tests" and mine[key] != theirs[key]]


@dataclass(frozen=True)
class Record:
    """One run: when, against what, with which options, on which machine, and its results."""

    time: str  # UTC, ISO 8601
    label: str | None
    target: Mapping[str, Any]  # kind (sentinel / cluster), name, address
    options: BenchOptions
    environment: Mapping[str, Any]
    results: tuple[TestResult, ...]
    duration_s: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def result(self, test: str) -> TestResult | None:
        return next((r for r in self.results if r.test == test), None)

    def name(self) -> str:
        """How a person tells runs apart: the label, else the time."""
        return self.label or self.time

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time, "label": self.label, "target": dict(self.target),
                "options": self.options.to_dict(), "environment": dict(self.environment),
                "results": [r.to_dict() for r in self.results], "duration_s": self.duration_s, **self.extra}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        known = {"time", "label", "target", "options", "environment", "results", "duration_s"}
        return cls(str(data["time"]), data.get("label"), dict(data["target"]),
                   BenchOptions.from_dict(data["options"]), dict(data["environment"]),
                   tuple(TestResult.from_dict(r) for r in data["results"]), float(data.get("duration_s", 0.0)),
                   {k: v for k, v in data.items() if k not in known})


def default_history(state_dir: Path) -> Path:
    """``.redisops/<name>/bench/history.jsonl`` of a deployment's state directory."""
    return state_dir / "bench" / FILE_NAME


def append(path: Path, record: Record) -> None:
    """Add one line; one ``write`` of a whole line in append mode, so concurrent runs do not interleave."""
    line = json.dumps(record.to_dict(), sort_keys=True) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        raise StateDirError(str(path.parent), exc.strerror or str(exc)) from exc


def read_history(path: Path) -> tuple[list[Record], list[str]]:
    """Every record of a history file, oldest first, and a note per line that could not be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HistoryError(f"no benchmark history at {path}",
                           hint="run `redisops bench run` first, or point --history at a history file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryError(f"history file {path} is unreadable ({exc})") from exc
    records: list[Record] = []
    notes: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(Record.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            notes.append(f"{path}:{number}: skipped, not a benchmark record ({type(exc).__name__}: {exc})")
    return records, notes


def by_label(records: Sequence[Record], label: str) -> Record | None:
    """The latest record with ``label``."""
    return next((r for r in reversed(records) if r.label == label), None)

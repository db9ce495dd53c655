"""Record what a watcher takes in during a real failover, and load it back to replay through the reducer.

::

    watcher = RecordingWatcher(groups, clusters, sink, settings=WatchSpec(poll_interval_s=0.5))
    ...                                          # run it while a master is killed
    save(watcher.recording("kill -9 of the master"), Path("tests/recorded/sentinel_kill.json"))

    recording = load(Path("tests/recorded/sentinel_kill.json"))
    state, handed = replay(recording.inputs, WatchState(settings=recording.settings))

A recording holds every input the watcher fed its reducer
(:func:`redisops.ha.step`), with the monotonic stamp it was fed at, counted
from the first input: each sentinel's Pub/Sub message as received (source,
channel, payload: parsed again on load, so the replay goes through the real
parser), each poll's :class:`~redisops.topology.StatusReport`, each
failover-timeout read.  Reports are frozen values, written field by field
(fields at their default left out) and read back by their type hints, so a
recording needs no code per type.  No password is ever part of an input;
:func:`save` checks that none of ``secrets`` appears in the text anyway.
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from redisops.address import Address
from redisops.alerts.model import Incident
from redisops.ha.events import SentinelEvent, parse_event
from redisops.ha.incidents import FailoverTimeout, Poll, WatchInput
from redisops.ha.watcher import Watcher
from redisops.spec.watch import WatchSpec
from redisops.topology.status import StatusReport

__all__ = ["Recording", "RecordingWatcher", "decode", "encode", "load", "save"]


@dataclass(frozen=True)
class Recording:
    about: str  # what happened: "kill -9 of the master mymaster-0 (down-after 1000 ms)"
    settings: WatchSpec
    inputs: tuple[tuple[float, WatchInput], ...]  # (seconds since the first input, input), in feed order
    notes: Mapping[str, str] = field(default_factory=dict)  # redis version, harness settings, ...


class RecordingWatcher(Watcher):
    """A :class:`~redisops.ha.Watcher` that keeps every input it feeds its reducer, with its stamp."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inputs: list[tuple[float, WatchInput]] = []

    def feed(self, item: WatchInput, now: float) -> list[Incident]:
        self.inputs.append((now, item))
        return super().feed(item, now)

    def recording(self, about: str, notes: Mapping[str, str] | None = None) -> Recording:
        start = self.inputs[0][0] if self.inputs else 0.0
        inputs = tuple((round(now - start, 4), _rebased(item, start)) for now, item in self.inputs)
        return Recording(about, self.settings, inputs, dict(notes or {}))


def _rebased(item: WatchInput, start: float) -> WatchInput:
    return dataclasses.replace(item, at=round(item.at - start, 4)) if isinstance(item, SentinelEvent) else item


# --- files ------------------------------------------------------------------------------------------


def save(recording: Recording, path: Path, secrets: Iterable[str | None] = ()) -> None:
    """One input per line (diffs stay readable); refuses to write text that contains one of ``secrets``."""
    head = {"about": recording.about, "notes": dict(recording.notes),
            "settings": recording.settings.model_dump(mode="json")}
    lines = [json.dumps(_input(now, item), separators=(",", ":")) for now, item in recording.inputs]
    text = json.dumps(head, indent=1)[:-2] + ',\n "inputs": [\n' + ",\n".join(lines) + "\n ]\n}\n"
    leaked = [s for s in secrets if s and s in text]
    if leaked:
        raise ValueError(f"{path}: the recording contains a secret; not written")
    path.write_text(text)


def load(path: Path) -> Recording:
    data = json.loads(path.read_text())
    inputs = tuple(_read_input(entry) for entry in data["inputs"])
    return Recording(str(data["about"]), WatchSpec(**data["settings"]), inputs,
                     {str(k): str(v) for k, v in data.get("notes", {}).items()})


def _input(now: float, item: WatchInput) -> dict[str, Any]:
    if isinstance(item, SentinelEvent):
        return {"at": now, "event": {"source": str(item.source), "channel": item.name, "payload": item.payload,
                                     **({"group": item.group} if item.group is not None else {})}}
    if isinstance(item, Poll):
        return {"at": now, "poll": encode(item.report)}
    return {"at": now, "failover_timeout": {"group": item.group, "seconds": item.seconds}}


def _read_input(entry: Mapping[str, Any]) -> tuple[float, WatchInput]:
    now = float(entry["at"])
    if "event" in entry:
        e = entry["event"]
        return now, parse_event(e["channel"], e["payload"], Address.parse(e["source"]), now,
                                default_group=e.get("group"))
    if "poll" in entry:
        return now, Poll(decode(StatusReport, entry["poll"]))
    timeout = entry["failover_timeout"]
    return now, FailoverTimeout(str(timeout["group"]), float(timeout["seconds"]))


# --- frozen values <-> JSON -------------------------------------------------------------------------


def encode(value: Any) -> Any:
    """A frozen value as JSON data: dataclasses as objects without their default fields, addresses as
    ``host:port``, enums as their value, tuples as lists, frozensets as sorted lists."""
    if isinstance(value, Address):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not _is_default(f, getattr(value, f.name))}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, frozenset):
        return sorted(encode(v) for v in value)
    if isinstance(value, (tuple, list)):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    return value


def decode(kind: Any, data: Any) -> Any:
    """The inverse of :func:`encode`, led by ``kind`` (a type hint: dataclass, enum, tuple, union, ...)."""
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(kind) if a is not type(None)]
        return None if data is None else decode(options[0], data)
    if origin is tuple:
        args = get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], v) for v in data)
        return tuple(decode(a, v) for a, v in zip(args, data, strict=True))
    if origin is frozenset:
        return frozenset(decode(get_args(kind)[0], v) for v in data)
    if kind is Address:
        return Address.parse(data)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(data)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = get_type_hints(kind)
        return kind(**{name: decode(hints[name], value) for name, value in data.items()})
    if kind is float:
        return float(data)
    return data


def _is_default(f: dataclasses.Field[Any], value: Any) -> bool:
    if f.default is not dataclasses.MISSING:
        return bool(value == f.default)
    if f.default_factory is not dataclasses.MISSING:
        return bool(value == f.default_factory())
    return False


"""Two clocks: the monotonic one for every duration the watcher measures, the wall clock for what people read.

The watcher's reducer (:mod:`redisops.ha.incidents`) compares times: a condition held for
``split_brain_after_s``, a failover window of failover-timeout, a lead-up of
the last two minutes, a replica seen down within the last minute.  On the wall
clock those break when it steps (NTP correcting a wrong clock, a VM resumed
from a snapshot, an operator's ``date -s``): a step back holds every condition
for as long as the step (an hour of silence about a split brain), a step
forward opens every held condition at once and ends every failover window
early (false split-brain pages).

So the watcher stamps every event and every poll with :meth:`Timebase.now`,
the injected :class:`~redisops.clock.Clock` (monotonic), and all its logic
runs on those stamps.  Only at the edge, when an incident is handed to the
alert sink, are its times turned into unix time (:meth:`Timebase.incident`):
each stamp with the wall clock's offset noted when the stamp was taken, so an
incident's timeline reads in local wall time on both sides of a step, and the
same stamp converts to the same unix time when the incident is handed again at
its resolution.

The offsets are kept as marks, a new one only when the offset moved by more
than ``tolerance_s`` (a step, or a slew that added up), so memory stays small.
Times that were never stamped here (a test or a replay feeding its own times
to :meth:`~redisops.ha.Watcher.decide`) pass through unchanged.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import replace

from redisops.alerts.model import Incident
from redisops.clock import Clock

__all__ = ["Timebase"]


class Timebase:
    def __init__(self, clock: Clock, wall: Callable[[], float], *, tolerance_s: float = 0.01,
                 keep: int = 4096) -> None:
        self.clock = clock
        self.wall = wall
        #: 10 ms: alert timelines show milliseconds; an NTP slew (at most 0.5 ms/s) adds a mark every 20 s at worst
        self.tolerance_s = tolerance_s
        #: marks kept; stamps older than the oldest mark convert with its offset
        self.keep = keep
        self._monos: list[float] = []
        self._offsets: list[float] = []

    def now(self) -> float:
        """A monotonic stamp; the wall clock's offset at this moment is noted for :meth:`to_wall`."""
        mono = self.clock.now()
        offset = self.wall() - mono
        if not self._offsets or abs(offset - self._offsets[-1]) > self.tolerance_s:
            self._monos.append(mono)
            self._offsets.append(offset)
            if len(self._monos) > self.keep:
                del self._monos[0], self._offsets[0]
        return mono

    def to_wall(self, stamp: float) -> float:
        """Unix time of a stamp :meth:`now` returned (unchanged when nothing was ever stamped)."""
        if not self._offsets:
            return stamp
        index = max(bisect_right(self._monos, stamp) - 1, 0)
        return stamp + self._offsets[index]

    def incident(self, incident: Incident) -> Incident:
        """``incident`` with its start, resolution and timeline in unix time, for people and channels."""
        resolved = None if incident.resolved_at is None else self.to_wall(incident.resolved_at)
        timeline = tuple(replace(entry, at=self.to_wall(entry.at)) for entry in incident.timeline)
        return replace(incident, started_at=self.to_wall(incident.started_at), resolved_at=resolved,
                       timeline=timeline)

"""Which notifications become messages: one "firing" per incident key, again only when the
severity rises, and one "resolved".

The watcher may call ``notify`` for the same incident on every poll cycle and
from every sentinel's event; only changes a human must see pass.  Memory is
bounded: the oldest keys are forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from redisops.alerts.model import Incident
from redisops.alerts.render import State

__all__ = ["Dedup"]


@dataclass(frozen=True)
class _Seen:
    rank: int
    resolved: bool


class Dedup:
    def __init__(self, keep: int = 10_000) -> None:
        self._seen: OrderedDict[str, _Seen] = OrderedDict()
        self._keep = keep

    def decide(self, incident: Incident) -> State | None:
        """The message to send for this notification, or None when it adds nothing; records it."""
        before = self._seen.get(incident.key)
        state = self._transition(before, incident)
        if state is not None:
            self.record(incident, state)
        return state

    def record(self, incident: Incident, state: State) -> None:
        """Remember that ``state`` was (or is being) sent, e.g. for deliveries replayed from the outbox."""
        self._seen[incident.key] = _Seen(incident.severity.rank, state is State.RESOLVED)
        self._seen.move_to_end(incident.key)
        while len(self._seen) > self._keep:
            self._seen.popitem(last=False)

    @staticmethod
    def _transition(before: _Seen | None, incident: Incident) -> State | None:
        if incident.resolved:
            return None if before is not None and before.resolved else State.RESOLVED
        if before is None or before.resolved:  # new, or re-opened after a resolve
            return State.FIRING
        return State.FIRING if incident.severity.rank > before.rank else None

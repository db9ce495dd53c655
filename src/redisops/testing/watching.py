"""A watcher running for a test: :class:`WatcherThread` runs ``Watcher.run`` in a thread, and
:class:`IncidentRecorder` is the alert sink that keeps what it was handed.

::

    sink = IncidentRecorder()
    running = WatcherThread(Watcher(groups, clusters, sink, settings=WatchSpec(poll_interval_s=0.5)))
    try:
        topo.kill("mymaster-0")
        assert_eventually(lambda: sink.of(IncidentKind.FAILOVER), within=30)
    finally:
        running.close()
"""

from __future__ import annotations

import asyncio
import threading
import time

from redisops.alerts import Incident, IncidentKind
from redisops.ha import Watcher

__all__ = ["IncidentRecorder", "WatcherThread"]


class IncidentRecorder:
    """The alert-sink seam: every incident handed to it, with the wall time it arrived."""

    def __init__(self) -> None:
        self.handed: list[tuple[float, Incident]] = []

    def notify(self, incident: Incident) -> None:
        self.handed.append((time.time(), incident))

    def of(self, kind: IncidentKind) -> list[Incident]:
        return [i for _, i in self.handed if i.kind is kind]

    @property
    def incidents(self) -> list[Incident]:
        return [i for _, i in self.handed]


class WatcherThread:
    """``watcher.run`` on its own event loop in a daemon thread, from construction until :meth:`close`."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.loop = asyncio.new_event_loop()
        self.stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)
        self.thread.start()

    async def _main(self) -> None:
        self.stop = asyncio.Event()
        await self.watcher.run(self.stop)

    def sample(self, name: str, labels: dict[str, str]) -> float | None:
        """One sample of the watcher's Prometheus metrics (None when it has no such series)."""
        return self.watcher.metrics.registry.get_sample_value(name, labels)

    def close(self) -> None:
        if self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(timeout=10)
        self.loop.close()

"""A watcher running for a test: :class:`WatcherThread` runs ``Watcher.run`` in a thread,
:class:`DaemonThread` the whole daemon (``Daemon.serve``), and :class:`IncidentRecorder` is the alert
sink that keeps what it was handed.

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
import io
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable

from redisops.alerts import Incident, IncidentKind
from redisops.daemon import Daemon
from redisops.ha import Watcher

__all__ = ["DaemonThread", "IncidentRecorder", "WatcherThread"]


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


class _LoopThread:
    """``main(stop)`` on its own event loop in a daemon thread, from construction until :meth:`close`."""

    def __init__(self, main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        self.loop = asyncio.new_event_loop()
        # made here, not in the loop: a close() before the loop's first step still finds it (an Event binds to
        # the loop that first waits on it)
        self.stop = asyncio.Event()
        self.error: BaseException | None = None
        self._main = main
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),), daemon=True)
        self.thread.start()

    async def _run(self) -> None:
        try:
            await self._main(self.stop)
        except BaseException as exc:  # kept for the test to see; the thread ends
            self.error = exc

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(timeout=40)  # a daemon gives a running backup 30 s
        if self.thread.is_alive():
            raise AssertionError(f"still running 40 s after stop was set:\n{self._stacks()}")
        self.loop.close()

    def _stacks(self) -> str:
        """Where the thread and each of its loop's tasks are (for a test that did not stop)."""
        frame = sys._current_frames().get(self.thread.ident or 0)
        parts = ["".join(traceback.format_stack(frame))] if frame is not None else []
        for task in list(asyncio.all_tasks(self.loop)):
            out = io.StringIO()
            task.print_stack(file=out)
            parts.append(f"{task!r}\n{out.getvalue()}")
        return "\n".join(parts)


class WatcherThread(_LoopThread):
    """``watcher.run`` in a thread until :meth:`close`."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        super().__init__(watcher.run)

    def sample(self, name: str, labels: dict[str, str]) -> float | None:
        """One sample of the watcher's Prometheus metrics (None when it has no such series)."""
        return self.watcher.metrics.registry.get_sample_value(name, labels)


class DaemonThread(_LoopThread):
    """``daemon.serve`` in a thread until :meth:`close`: an embedded daemon, as an application would run it."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        super().__init__(daemon.serve)

    def sample(self, name: str, labels: dict[str, str]) -> float | None:
        return self.daemon.metrics.registry.get_sample_value(name, labels)

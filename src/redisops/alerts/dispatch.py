"""The :class:`Dispatcher`: the :class:`~redisops.alerts.model.AlertSink` the watcher notifies.

::

    notify(incident) ──queue──▶ intake thread ──▶ dedup ──▶ outbox (fsync) ──▶ one worker per channel
                                                                                 (rate limit, send, backoff)

``notify`` only enqueues, so the watcher's loop never waits on a network.  The
intake thread decides what the notification means (firing, escalation,
resolved, or nothing new), writes one outbox file per channel *before* any
attempt, and hands the deliveries to the channel workers.  A delivery leaves
the outbox only once its channel accepted it; on :meth:`Dispatcher.start`
whatever a previous process left there is sent first.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from redisops.alerts.channels import Broken, Channel, build_channel
from redisops.alerts.dedup import Dedup
from redisops.alerts.errors import ChannelConfigError
from redisops.alerts.metrics import DeliveryMetrics
from redisops.alerts.model import Incident
from redisops.alerts.outbox import Delivery, Outbox
from redisops.alerts.pacing import Backoff, TokenBucket
from redisops.alerts.progress import Progress
from redisops.alerts.worker import ChannelWorker
from redisops.clock import Clock, SystemClock
from redisops.spec.alerts import AlertsSpec, RetrySpec

__all__ = ["Dispatcher", "assemble", "build_dispatcher"]

log = logging.getLogger("redisops.alerts")

_STOP = object()


class Dispatcher:
    """Deliver incidents to every channel: deduplicated, rate limited, retried, never lost."""

    def __init__(self, workers: Mapping[str, ChannelWorker], *, outbox: Outbox, metrics: DeliveryMetrics,
                 progress: Progress, max_age_s: float, problems: Sequence[ChannelConfigError] = ()) -> None:
        self.workers = dict(workers)
        self.outbox = outbox
        self.metrics = metrics
        self.problems = tuple(problems)  # channels whose config failed; their deliveries wait in the outbox
        self._progress = progress
        self._max_age_s = max_age_s
        self._dedup = Dedup()
        self._inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    @property
    def registry(self) -> CollectorRegistry:
        return self.metrics.registry

    def start(self) -> None:
        """Replay the outbox, then start the intake thread and one worker per channel."""
        if self._thread is not None:
            return
        for problem in self.problems:
            log.error("%s", problem)
        self._replay()
        for worker in self.workers.values():
            worker.start()
        self._thread = threading.Thread(target=self._intake, name="redisops-alerts-intake", daemon=True)
        self._thread.start()

    def notify(self, incident: Incident) -> None:
        """Hand over an incident (new, updated or resolved); returns at once."""
        self._progress.add()
        self._inbox.put(incident)

    def flush(self, timeout: float) -> bool:
        """Wait until every accepted delivery was sent or given up; False on timeout."""
        return self._progress.wait_idle(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Deliver what can be delivered within ``timeout`` seconds, then stop every thread.
        Whatever is still unsent stays in the outbox for the next start."""
        deadline = time.monotonic() + timeout  # real time: this waits for threads, not for the clock
        self.flush(timeout)
        if self._thread is not None:
            self._inbox.put(_STOP)
            self._thread.join(max(0.0, deadline - time.monotonic()))
            self._thread = None
        for worker in self.workers.values():
            worker.stop(max(0.1, deadline - time.monotonic()))

    def _intake(self) -> None:
        while True:
            item = self._inbox.get()
            if item is _STOP:
                return
            assert isinstance(item, Incident)
            try:
                self._route(item)
            except Exception:  # a bug here must not silence every later alert
                log.exception("alerts: could not route incident %s", item.key)
            finally:
                self._progress.done()

    def _route(self, incident: Incident) -> None:
        state = self._dedup.decide(incident)
        if state is None:
            log.debug("alerts: %s: nothing new", incident.key)
            return
        for name, worker in self.workers.items():
            delivery = Delivery.new(name, state, incident)
            self._progress.add()
            self._save(delivery)
            worker.submit(delivery)

    def _save(self, delivery: Delivery) -> None:
        try:
            self.outbox.save(delivery)
        except OSError as exc:  # a full or read-only disk must not stop alerting
            log.error("alerts: outbox %s not writable (%s); delivering without it", self.outbox.root,
                      exc.strerror or type(exc).__name__)

    def _replay(self) -> None:
        cutoff = time.time() - self._max_age_s
        for delivery in self.outbox.pending():
            worker = self.workers.get(delivery.channel)
            if worker is None:
                log.warning("alerts: outbox holds a delivery for unknown channel %r; left in %s",
                            delivery.channel, self.outbox.root)
            elif delivery.created_at < cutoff:
                self.outbox.remove(delivery)
                self.metrics.count(delivery.channel, "expired")
                log.warning("alerts: dropped %r for %s: older than outbox_max_age_s",
                            delivery.incident.title, delivery.channel)
            else:
                self._dedup.record(delivery.incident, delivery.state)
                self._progress.add()
                worker.submit(delivery, replayed=True)


def build_dispatcher(alerts: AlertsSpec, base_dir: Path, *, registry: CollectorRegistry | None = None,
                     clock: Clock | None = None) -> Dispatcher:
    """A dispatcher for the spec's channels; nothing runs until :meth:`Dispatcher.start`.

    ``base_dir`` is the spec file's directory (``outbox_dir`` and ``*_file``
    secrets are relative to it).  Without ``registry`` the counter goes to a
    private registry (``dispatcher.registry``), so building two dispatchers
    in one process never collides in the global one.  A channel whose secret
    is missing is listed in ``dispatcher.problems``; the others work.
    """
    channels: list[Channel] = []
    problems: list[ChannelConfigError] = []
    for spec in alerts.channels:
        try:
            channels.append(build_channel(spec, base_dir, alerts.retry.timeout_s))
        except ChannelConfigError as exc:
            problems.append(exc)
            channels.append(Broken(spec.label, spec.type, exc))
    limits = {spec.label: spec.rate_limit_per_minute for spec in alerts.channels}
    return assemble(channels, base_dir / alerts.outbox_dir, retry=alerts.retry, rate_limits=limits,
                    max_age_s=alerts.outbox_max_age_s, problems=problems, registry=registry, clock=clock)


def assemble(channels: Sequence[Channel], outbox_dir: Path, *, retry: RetrySpec | None = None,
             rate_limits: Mapping[str, int] | None = None, max_age_s: float = 86400.0,
             problems: Sequence[ChannelConfigError] = (), registry: CollectorRegistry | None = None,
             clock: Clock | None = None) -> Dispatcher:
    """A dispatcher over ready channel objects: the seam tests use to plug in their own channels."""
    clock = clock or SystemClock()
    retry = retry or RetrySpec()
    metrics = DeliveryMetrics(registry if registry is not None else CollectorRegistry(auto_describe=True))
    outbox = Outbox(outbox_dir)
    progress = Progress()
    backoff = Backoff(retry.backoff_base_s, retry.backoff_max_s, retry.max_attempts)
    limits = rate_limits or {}
    workers = {
        channel.name: ChannelWorker(channel, outbox=outbox, backoff=backoff, metrics=metrics, progress=progress,
                                    bucket=TokenBucket(limits.get(channel.name, 20), clock), clock=clock)
        for channel in channels
    }
    return Dispatcher(workers, outbox=outbox, metrics=metrics, progress=progress, max_age_s=max_age_s,
                      problems=problems)

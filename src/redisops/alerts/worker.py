"""One worker thread per channel: attempts, backoff, rate limit, outbox removal.

Each channel has its own thread so a channel that times out (5 s) never delays
the others.  The loop waits on its inbox when idle; while retries are pending
it sleeps in short slices on the injected clock (50 ms), so new deliveries are
not held behind a long backoff and tests with a fake clock never wait.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from dataclasses import dataclass

from redisops.alerts.channels import Channel
from redisops.alerts.errors import DeliveryError
from redisops.alerts.metrics import DeliveryMetrics
from redisops.alerts.outbox import Delivery, Outbox
from redisops.alerts.pacing import Backoff, TokenBucket
from redisops.alerts.progress import Progress
from redisops.clock import Clock

__all__ = ["ChannelWorker"]

log = logging.getLogger("redisops.alerts")

_IDLE_WAIT = 0.2  # seconds an idle worker blocks on its inbox before checking for stop
_TICK = 0.05  # longest clock sleep while retries are pending


@dataclass
class _Pending:
    delivery: Delivery
    replayed: bool
    attempts: int = 0
    due: float = 0.0


class ChannelWorker:
    def __init__(self, channel: Channel, *, outbox: Outbox, backoff: Backoff, bucket: TokenBucket,
                 metrics: DeliveryMetrics, progress: Progress, clock: Clock) -> None:
        self.channel = channel
        self._outbox = outbox
        self._backoff = backoff
        self._bucket = bucket
        self._metrics = metrics
        self._progress = progress
        self._clock = clock
        self._inbox: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()  # None wakes the loop to stop
        self._pending: list[_Pending] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.suppressed = 0  # dropped by the rate limit since the last message that went out

    def submit(self, delivery: Delivery, *, replayed: bool = False) -> None:
        """Queue a delivery already saved in the outbox (the caller counted it in ``progress``)."""
        self._inbox.put(_Pending(delivery, replayed))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"redisops-alerts-{self.channel.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        self._inbox.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
        self.channel.close()

    def _run(self) -> None:
        try:
            self.channel.open()
        except Exception:  # the first send will report the same problem with a reason
            log.debug("alert channel %s: open failed", self.channel.name, exc_info=True)
        while not self._stopping.is_set():
            self._take_new(block=not self._pending)
            if self._stopping.is_set():
                return
            now = self._clock.now()
            due = [p for p in self._pending if p.due <= now]
            for item in due:
                self._pending.remove(item)
                self._attempt(item)
            if self._pending and not due:
                self._clock.sleep(min(_TICK, max(0.0, min(p.due for p in self._pending) - now)))

    def _take_new(self, *, block: bool) -> None:
        try:
            item = self._inbox.get(timeout=_IDLE_WAIT) if block else self._inbox.get_nowait()
            while True:
                if item is not None:
                    self._pending.append(item)
                item = self._inbox.get_nowait()
        except queue.Empty:
            return

    def _attempt(self, item: _Pending) -> None:
        name = self.channel.name
        if item.attempts == 0 and not item.replayed and not self._bucket.take():
            self.suppressed += 1
            self._outbox.remove(item.delivery)
            self._metrics.count(name, "rate_limited")
            log.warning("alert channel %s: rate limit reached, dropped %r (%d dropped so far)",
                        name, item.delivery.incident.title, self.suppressed)
            self._progress.done()
            return
        item.attempts += 1
        try:
            self.channel.send(self._with_note(item.delivery).incident, item.delivery.state)
        except DeliveryError as exc:
            self._failed(item, exc)
            return
        except Exception as exc:  # a bug in a channel must not kill the worker or lose the delivery
            log.exception("alert channel %s: unexpected failure", name)
            self._failed(item, DeliveryError(name, f"unexpected {type(exc).__name__}", retryable=False))
            return
        self.suppressed = 0
        self._outbox.remove(item.delivery)
        self._metrics.count(name, "sent")
        log.info("alert channel %s: sent %s %r", name, item.delivery.state.value, item.delivery.incident.title)
        self._progress.done()

    def _failed(self, item: _Pending, exc: DeliveryError) -> None:
        self._metrics.count(self.channel.name, "error")
        if exc.retryable and item.attempts < self._backoff.max_attempts:
            delay = self._backoff.delay(item.attempts)
            item.due = self._clock.now() + delay
            self._pending.append(item)
            log.warning("%s (attempt %d, retrying in %.1f s)", exc, item.attempts, delay)
            return
        self._metrics.count(self.channel.name, "gave_up")
        why = "retries exhausted" if exc.retryable else "not retryable"
        log.error("%s (attempt %d, %s; kept in the outbox for the next start)", exc, item.attempts, why)
        self._progress.done()

    def _with_note(self, delivery: Delivery) -> Delivery:
        """The delivery, its summary noting how many messages the rate limit dropped before it."""
        if not self.suppressed:
            return delivery
        note = f"({self.suppressed} earlier alerts on this channel were dropped by its rate limit)"
        summary = f"{delivery.incident.summary}\n{note}" if delivery.incident.summary else note
        return dataclasses.replace(delivery, incident=dataclasses.replace(delivery.incident, summary=summary))

"""The dispatcher with in-process channels (our own seam): dedup, retries, rate limit, outbox, metrics.

Retries run on a FakeClock, so a minute of backoff takes no real time.  Every
dispatcher is stopped; every wait has a timeout.
"""

from __future__ import annotations

import json
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry

from redisops.alerts import DeliveryError, Dispatcher, Incident, IncidentKind, Severity
from redisops.alerts.dispatch import assemble
from redisops.alerts.render import State
from redisops.clock import FakeClock
from redisops.spec.alerts import RetrySpec


class FakeChannel:
    """Records what it is asked to send; fails the first ``failures`` attempts."""

    type = "fake"

    def __init__(self, name: str = "fake", *, failures: int = 0, retryable: bool = True,
                 delay: float = 0.0) -> None:
        self.name = name
        self.failures = failures
        self.retryable = retryable
        self.delay = delay
        self.sent: list[tuple[State, Incident]] = []
        self.attempts = 0
        self.lock = threading.Lock()

    def open(self) -> None:
        pass

    def send(self, incident: Incident, state: State) -> None:
        with self.lock:
            self.attempts += 1
            if self.attempts <= self.failures:
                raise DeliveryError(self.name, "endpoint down", retryable=self.retryable)
        if self.delay:
            threading.Event().wait(self.delay)
        self.sent.append((state, incident))

    def close(self) -> None:
        pass


def incident(key: str = "failover:mymaster:1", severity: Severity = Severity.CRITICAL,
             resolved_at: float | None = None) -> Incident:
    return Incident(key=key, kind=IncidentKind.FAILOVER, severity=severity, group="mymaster",
                    title=f"{key} happened", started_at=1_700_000_000.0, resolved_at=resolved_at)


@pytest.fixture
def started() -> Iterator[list[Dispatcher]]:
    running: list[Dispatcher] = []
    yield running
    for dispatcher in running:
        dispatcher.stop(timeout=1)


def start(running: list[Dispatcher], tmp_path: Path, *channels: FakeChannel, **kwargs: object) -> Dispatcher:
    kwargs.setdefault("clock", FakeClock())
    dispatcher = assemble(list(channels), tmp_path / "outbox", **kwargs)  # type: ignore[arg-type]
    running.append(dispatcher)
    dispatcher.start()
    return dispatcher


def test_one_message_per_key_then_escalation_then_one_resolve(tmp_path: Path, started: list[Dispatcher]) -> None:
    channel = FakeChannel()
    dispatcher = start(started, tmp_path, channel)
    dispatcher.notify(incident(severity=Severity.WARNING))
    dispatcher.notify(incident(severity=Severity.WARNING))
    dispatcher.notify(incident(severity=Severity.CRITICAL))
    dispatcher.notify(incident(severity=Severity.CRITICAL))
    dispatcher.notify(incident(resolved_at=1_700_000_060.0))
    dispatcher.notify(incident(resolved_at=1_700_000_060.0))
    assert dispatcher.flush(timeout=5)
    assert [(s, i.severity) for s, i in channel.sent] == [
        (State.FIRING, Severity.WARNING), (State.FIRING, Severity.CRITICAL), (State.RESOLVED, Severity.CRITICAL)]
    assert dispatcher.metrics.value("fake", "sent") == 3
    assert list((tmp_path / "outbox").glob("*/*.json")) == []


def test_retries_with_backoff_then_success(tmp_path: Path, started: list[Dispatcher]) -> None:
    clock = FakeClock()
    channel = FakeChannel(failures=3)
    dispatcher = start(started, tmp_path, channel, clock=clock)
    dispatcher.notify(incident())
    assert dispatcher.flush(timeout=5)
    assert channel.attempts == 4 and len(channel.sent) == 1
    assert clock.t >= 0.5 + 1.0 + 2.0  # waited the backoff on the clock, not in real time
    assert (dispatcher.metrics.value("fake", "error"), dispatcher.metrics.value("fake", "sent")) == (3, 1)


def test_a_permanent_error_is_not_retried_and_stays_in_the_outbox(tmp_path: Path,
                                                                   started: list[Dispatcher]) -> None:
    channel = FakeChannel(failures=99, retryable=False)
    dispatcher = start(started, tmp_path, channel)
    dispatcher.notify(incident())
    assert dispatcher.flush(timeout=5)
    assert channel.attempts == 1 and dispatcher.metrics.value("fake", "gave_up") == 1
    (kept,) = (tmp_path / "outbox" / "fake").glob("*.json")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert json.loads(kept.read_text())["incident"]["key"] == "failover:mymaster:1"


def test_outbox_survives_a_restart_and_is_replayed_once(tmp_path: Path, started: list[Dispatcher]) -> None:
    down = FakeChannel(failures=99)
    first = start(started, tmp_path, down, retry=RetrySpec(max_attempts=3))
    first.notify(incident())
    assert first.flush(timeout=5)
    first.stop(timeout=2)
    assert len(list((tmp_path / "outbox" / "fake").glob("*.json"))) == 1

    back = FakeChannel()
    second = start(started, tmp_path, back)
    assert second.flush(timeout=5)
    assert [i.key for _, i in back.sent] == ["failover:mymaster:1"]
    assert list((tmp_path / "outbox" / "fake").glob("*.json")) == []
    second.notify(incident())  # the watcher re-reports it after the restart: already delivered
    assert second.flush(timeout=5) and len(back.sent) == 1


def test_stale_and_corrupt_outbox_files_are_set_aside(tmp_path: Path, started: list[Dispatcher]) -> None:
    down = FakeChannel(failures=99, retryable=False)
    first = start(started, tmp_path, down)
    first.notify(incident())
    assert first.flush(timeout=5)
    first.stop(timeout=2)
    (tmp_path / "outbox" / "fake" / "0-broken.json").write_text("{not json")
    back = FakeChannel()
    second = start(started, tmp_path, back, max_age_s=0.001)
    assert second.flush(timeout=5)
    assert back.sent == [] and second.metrics.value("fake", "expired") == 1
    assert [p.name for p in (tmp_path / "outbox" / "fake").iterdir()] == ["0-broken.json.bad"]


def test_rate_limit_drops_the_excess_and_says_so_in_the_next_message(tmp_path: Path,
                                                                      started: list[Dispatcher]) -> None:
    clock = FakeClock()
    channel = FakeChannel()
    dispatcher = start(started, tmp_path, channel, clock=clock, rate_limits={"fake": 2})
    for n in range(5):
        dispatcher.notify(incident(key=f"replica_down:{n}"))
    assert dispatcher.flush(timeout=5)
    assert [i.key for _, i in channel.sent] == ["replica_down:0", "replica_down:1"]
    assert dispatcher.metrics.value("fake", "rate_limited") == 3
    clock.sleep(30)  # one token back (2/min)
    dispatcher.notify(incident(key="replica_down:9"))
    assert dispatcher.flush(timeout=5)
    assert channel.sent[-1][1].summary == "(3 earlier alerts on this channel were dropped by its rate limit)"


def test_notify_never_waits_for_a_slow_channel(tmp_path: Path, started: list[Dispatcher]) -> None:
    slow = FakeChannel(delay=0.3)
    fast = FakeChannel("fast")
    dispatcher = start(started, tmp_path, slow, fast)
    began = time.perf_counter()
    for n in range(10):
        dispatcher.notify(incident(key=f"k{n}"))
    assert time.perf_counter() - began < 0.05
    deadline = time.monotonic() + 5
    while len(fast.sent) < 10 and time.monotonic() < deadline:  # the fast channel is not held up
        threading.Event().wait(0.01)
    assert len(fast.sent) == 10 and len(slow.sent) < 5


def test_metrics_go_to_the_given_registry_only(tmp_path: Path, started: list[Dispatcher]) -> None:
    registry = CollectorRegistry()
    dispatcher = start(started, tmp_path, FakeChannel(), registry=registry)
    dispatcher.notify(incident())
    assert dispatcher.flush(timeout=5)
    assert registry.get_sample_value("redisops_alert_deliveries_total", {"channel": "fake", "outcome": "sent"}) == 1
    assert REGISTRY.get_sample_value("redisops_alert_deliveries_total", {"channel": "fake", "outcome": "sent"}) is None

"""The watcher's log: a cycle's sentence when it changes, an unchanged one at most once a minute (fake clock).

The daemon loop runs for real (``Watcher.run``) with nothing to watch, so its cycles need no network; the fake
clock moves only when the test moves it.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from redisops.clock import FakeClock
from redisops.ha import Watcher
from redisops.ha.cycle_log import HEARTBEAT_S, CycleLog
from redisops.spec.watch import WatchSpec
from redisops.topology import StatusReport

SETTINGS = WatchSpec(poll_interval_s=0.001)


class Sink:
    def notify(self, incident: object) -> None:
        raise AssertionError(f"nothing to watch, yet {incident}")


def run_cycles(count: int, clock: FakeClock, step_s: float) -> None:
    """``count`` cycles of the daemon loop, the fake clock moved ``step_s`` after each."""
    done = 0
    stop = asyncio.Event()

    def cycled(_sentence: str, _report: StatusReport) -> None:
        nonlocal done
        done += 1
        clock.t += step_s
        if done == count:
            stop.set()

    watcher = Watcher([], [], Sink(), settings=SETTINGS, clock=clock, on_cycle=cycled)
    asyncio.run(asyncio.wait_for(watcher.run(stop), timeout=60))
    assert done == count


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "redisops.watch"]


def test_a_hundred_identical_cycles_are_one_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="redisops.watch")
    run_cycles(100, FakeClock(), step_s=0.5)  # 50 s: less than a heartbeat
    assert lines(caplog) == ["no action: nothing to watch"]


def test_an_unchanged_sentence_is_repeated_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="redisops.watch")
    run_cycles(100, FakeClock(), step_s=2.0)  # the default poll interval: 200 s
    assert lines(caplog) == ["no action: nothing to watch",
                             "no action: nothing to watch (unchanged for 60 s, 31 cycles)",
                             "no action: nothing to watch (unchanged for 120 s, 61 cycles)",
                             "no action: nothing to watch (unchanged for 180 s, 91 cycles)"]


def test_a_change_is_logged_at_once_and_starts_a_new_heartbeat(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test.cycles")
    clock = FakeClock()
    said = CycleLog(logging.getLogger("test.cycles"), clock)
    written = []
    for sentence in ["no action: a", "no action: a", "waiting: b", "waiting: b", "no action: a"]:
        written.append(said.say(sentence, logging.WARNING if sentence.startswith("waiting") else logging.INFO))
        clock.t += 2.0
    assert written == [True, False, True, False, True]
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "no action: a"), ("WARNING", "waiting: b"), ("INFO", "no action: a")]
    clock.t += HEARTBEAT_S - 2.0
    assert said.say("no action: a") and not said.say("no action: a")

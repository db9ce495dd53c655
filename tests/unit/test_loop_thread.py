"""The test harness' loop thread stops at once, also when closed before its loop took its first step."""

from __future__ import annotations

import asyncio

from redisops.testing.watching import _LoopThread


async def _wait_for_stop(stop: asyncio.Event) -> None:
    await stop.wait()


def test_close_right_after_start_stops_at_once() -> None:
    for _ in range(50):  # the race: close() before _run's first step (it then waited 40 s and raised)
        thread = _LoopThread(_wait_for_stop)
        thread.close()
        assert not thread.thread.is_alive() and thread.error is None

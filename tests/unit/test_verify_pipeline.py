"""The forward scan's pipeline (scan -> source digest -> target digest) with plain in-memory key spaces.

No Redis here on purpose: this is the threading (hand-offs, a failing stage, no hang), not the digests,
which the integration tests cover against real nodes.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from redisops.clock import FakeClock
from redisops.data.digest import KeyState
from redisops.data.verify import RateCap, VerifyOptions, _forward


class Space:
    """``keys`` in batches of the asked size; a batch digest is its keys' values joined."""

    def __init__(self, data: dict[bytes, str], forkable: bool = True, fail_after: int | None = None) -> None:
        self.data, self.forkable, self.fail_after, self.calls = data, forkable, fail_after, 0
        self.reader = self

    def scan_batches(self, count: int) -> Any:
        keys = sorted(self.data)
        for i in range(0, len(keys), count):
            yield self, keys[i:i + count]

    def batch_digest(self, keys: list[bytes]) -> str:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("node went away")
        return "|".join(self.data.get(k, "-") for k in keys)

    def states(self, keys: list[bytes]) -> list[KeyState]:
        return [KeyState("string", -1, self.data[k]) if k in self.data else KeyState("none", -2, "") for k in keys]

    def fork(self) -> Space | None:
        return Space(self.data, self.forkable, self.fail_after) if self.forkable else None

    def close(self) -> None:
        pass


def forward(source: Space, target: Space, batch: int = 10) -> Any:
    result: list[Any] = []

    def go() -> None:
        with ThreadPoolExecutor(2) as pool:
            try:
                result.append(_forward(source, target, VerifyOptions(batch=batch, rounds=1),  # type: ignore[arg-type]
                                       RateCap(None, FakeClock()), pool))
            except Exception as exc:  # noqa: BLE001 - handed to the test thread
                result.append(exc)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), "the pipeline hung"
    return result[0]


DATA = {f"k{i:04d}".encode(): str(i) for i in range(1000)}


@pytest.mark.parametrize("forkable", [True, False])
def test_only_the_differing_key_is_reported(forkable: bool) -> None:
    changed = {**DATA, b"k0500": "other"}
    found, scanned = forward(Space(DATA, forkable), Space(changed))
    assert scanned == 1000
    assert [(d.key, d.kind.value) for d in found] == [(b"k0500", "value")]


@pytest.mark.parametrize("forkable", [True, False])
def test_a_target_that_fails_mid_scan_raises_instead_of_hanging(forkable: bool) -> None:
    outcome = forward(Space(DATA, forkable), Space(DATA, fail_after=3), batch=5)
    assert isinstance(outcome, RuntimeError) and "went away" in str(outcome)


def test_a_source_digest_that_fails_raises_instead_of_hanging() -> None:
    outcome = forward(Space(DATA, fail_after=3), Space(DATA), batch=5)
    assert isinstance(outcome, RuntimeError)

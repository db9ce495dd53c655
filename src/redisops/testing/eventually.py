"""``assert_eventually``: retry an assertion until it holds or time runs out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["assert_eventually", "wait_until"]

T = TypeVar("T")


def assert_eventually(check: Callable[[], T], within: float = 10.0, interval: float = 0.05) -> T:
    """Call ``check`` until it returns without raising AssertionError; return its value.

    After ``within`` seconds the last AssertionError is raised, with the time
    waited added to its message.
    """
    deadline = time.monotonic() + within
    while True:
        try:
            return check()
        except AssertionError as exc:
            if time.monotonic() >= deadline:
                raise AssertionError(f"still failing after {within:.1f} s: {exc}") from exc
        time.sleep(interval)


def wait_until(predicate: Callable[[], bool], within: float, what: str, interval: float = 0.05) -> None:
    """:func:`assert_eventually` for a predicate that returns a bool (a False fails with ``what``)."""
    def check() -> None:
        assert predicate(), what

    assert_eventually(check, within=within, interval=interval)

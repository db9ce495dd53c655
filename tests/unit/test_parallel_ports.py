"""Under pytest-xdist every worker allocates topology ports from its own slice of the range, so two workers
never both find one block free and then start nodes on it."""

from __future__ import annotations

import pytest

from redisops.testing import allocate_ports


@pytest.mark.parametrize(("worker", "low", "high"), [("gw0", 10000, 15000), ("gw1", 15000, 20000)])
def test_each_of_two_workers_draws_from_its_own_half(monkeypatch: pytest.MonkeyPatch, worker: str, low: int,
                                                     high: int) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    bases = {allocate_ports() for _ in range(20)}  # drawn at random: 20 draws all in one half by chance is 2**-20
    assert all(low <= base < high for base in bases), sorted(bases)


def test_without_xdist_the_whole_range_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    bases = {allocate_ports() for _ in range(40)}
    assert min(bases) < 15000 <= max(bases), sorted(bases)

"""Ten kill -9 of a rebalance over 200k keys, then a resume: nothing lost, nothing doubled, nothing open."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))

from test_cluster_resume import kill_and_resume  # noqa: E402


@pytest.mark.slow
def test_kill_ten_times_then_resume_keeps_every_key(tmp_path: Path) -> None:
    kill_and_resume(tmp_path, 200_000, kills=[50, 200, 200, 400, 1, 300, 600, 100, 5, 500])

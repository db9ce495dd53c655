"""The pytest plugin fails a session that leaves a redis process running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from redisops.testing.pytest_plugin import find_leaks

LEAKY_TEST = '''
from redisops.testing import Topology

def test_forgets_to_stop(tmp_path):
    Topology.start(tmp_path, cluster=False)  # never stopped
'''


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_leaked_process_fails_the_session_and_is_killed(tmp_path: Path, workers: list[str]) -> None:
    (tmp_path / "test_leaky.py").write_text(LEAKY_TEST)
    basetemp = tmp_path / "basetemp"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "redisops.testing.pytest_plugin",
                           *workers, str(tmp_path / "test_leaky.py"), f"--basetemp={basetemp}", "--rootdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "1 passed" in done.stdout, done.stdout + done.stderr
    assert done.returncode != 0
    assert "processes left running by tests (killed now)" in done.stdout
    assert "redis-sentinel" in done.stdout and "redis-server" in done.stdout
    assert find_leaks(basetemp) == []

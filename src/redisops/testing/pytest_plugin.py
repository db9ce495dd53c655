"""pytest plugin: fail the session if a redis process a test started outlives it.

Every node redisops starts runs with its working directory in its node
directory; for tests that is under pytest's base temp dir.  At session end any
redis-server / redis-sentinel (or valkey-server) whose cwd lies there is a leak: it is killed and
the session fails, naming it.

Opt-in, because it kills processes: ``pytest -p redisops.testing.pytest_plugin`` (or
``pytest_plugins = ["redisops.testing.pytest_plugin"]`` in a conftest).  Installing redisops
does not load it into other projects' test runs.

Under pytest-xdist the controller checks, once every worker has finished: the workers' base
temp dirs lie under its own, and a worker's exit status is not what decides the run's.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from redisops.runtime.processes import is_alive, process_cwd

__all__ = ["find_leaks"]


def find_leaks(root: Path) -> list[tuple[int, str]]:
    """(pid, description) of live redis processes whose cwd is under ``root``."""
    root = root.resolve()
    leaks: list[tuple[int, str]] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            comm = (proc / "comm").read_text().strip()
        except OSError:
            continue
        if not comm.startswith(("redis-", "valkey-")):
            continue
        cwd = process_cwd(int(proc.name))
        if cwd is not None and (cwd == root or root in cwd.parents) and is_alive(int(proc.name)):
            leaks.append((int(proc.name), f"{comm} pid {proc.name} in {cwd}"))
    return leaks


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller checks its base temp dir, which holds this one's
    factory: Any = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or getattr(factory, "_basetemp", None) is None:
        return  # no test used a temp dir, so none started a node there
    leaks = find_leaks(Path(factory.getbasetemp()))
    if not leaks:
        return
    for pid, _ in leaks:
        os.kill(pid, signal.SIGKILL)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = "redisops: processes left running by tests (killed now):\n  " + "\n  ".join(d for _, d in leaks)
    if reporter is not None:
        reporter.write_line(message, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED

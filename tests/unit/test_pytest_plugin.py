"""The leak-check plugin is opt-in: installing redisops must not put it into every pytest run on the machine.

It kills redis processes still running under the session's temp dir when the session ends, which is what our
own suite wants and what a user's suite (a server its fixtures leave to another process, say) may not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = "redisops.testing.pytest_plugin"

PROBE = f'''
def test_report(request):
    loaded = any(getattr(plugin, "__name__", None) == "{PLUGIN}"
                 for plugin in request.config.pluginmanager.get_plugins())
    print(f"redisops plugin loaded: {{loaded}}")
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project: its own pytest.ini (so ours does not apply), one test, redisops installed."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_probe.py").write_text(PROBE)
    return tmp_path


def run_pytest(project: Path, *args: str) -> str:
    # PYTEST_ADDOPTS / PYTEST_PLUGINS / xdist's worker variables of this run must not leak into the user's run
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *args],
                          cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_installing_redisops_does_not_load_the_plugin(project: Path) -> None:
    assert "redisops plugin loaded: False" in run_pytest(project)


def test_a_project_opts_in_with_dash_p(project: Path) -> None:
    assert "redisops plugin loaded: True" in run_pytest(project, "-p", PLUGIN)

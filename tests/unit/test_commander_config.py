"""Redis Commander's generated config and where redisops looks for the tool (no process started)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from redisops.observe.commander import (
    INSTALL_COMMAND,
    MissingToolError,
    UIPortInUseError,
    commander_config,
    find_tool,
)
from redisops.runtime.plan import Plan, build_plan
from redisops.spec.load import load_text
from redisops.spec.secrets import Secrets

SPEC = """
name: demo
sentinel:
  - {name: orders, port: 6400, replicas: 1, sentinels: 3, sentinel_port: 26400}
  - {name: sessions, port: 6500, replicas: 1, sentinels: 3, sentinel_port: 26500}
cluster: {name: main, port: 7000, masters: 3, replicas_per_master: 1}
"""
SECRETS = Secrets("data-node-password", "sentinel-password")


def _plan(text: str = SPEC) -> Plan:
    spec, problems = load_text(text)
    assert spec is not None, problems
    return build_plan(spec)


def test_every_group_through_its_sentinels_and_the_cluster_through_every_node() -> None:
    config = commander_config(_plan(), SECRETS, 18081)
    assert config["server"] == {"address": "127.0.0.1", "port": 18081}
    assert config["noSave"] is True and config["noLogData"] is True
    orders, sessions, cluster = config["connections"]
    assert orders == {
        "label": "orders (sentinels)",
        "sentinels": [{"host": "127.0.0.1", "port": p} for p in (26400, 26401, 26402)],
        "sentinelName": "orders",
        "sentinelPassword": "sentinel-password",
        "password": "data-node-password",
        "dbIndex": 0,
    }
    assert sessions["sentinelName"] == "sessions"
    assert [s["port"] for s in sessions["sentinels"]] == [26500, 26501, 26502]
    assert cluster["label"] == "main (cluster)"
    assert [n["port"] for n in cluster["clusters"]] == list(range(7000, 7006))
    assert cluster["password"] == "data-node-password" and "sentinels" not in cluster


def test_a_spec_without_cluster_has_only_its_groups() -> None:
    config = commander_config(_plan(SPEC.split("cluster:")[0]), SECRETS, 8081)
    assert [c["label"] for c in config["connections"]] == ["orders (sentinels)", "sessions (sentinels)"]


def _install(root: Path) -> Path:
    script = root / ".redisops" / "tools" / "node_modules" / "redis-commander" / "bin" / "redis-commander.js"
    script.parent.mkdir(parents=True)
    script.write_text("")
    (script.parent.parent / "package.json").write_text('{"version": "0.9.0"}')
    return script


def test_found_in_a_parent_of_the_spec_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDISOPS_COMMANDER", raising=False)
    script = _install(tmp_path)
    (tmp_path / "deploy" / "prod").mkdir(parents=True)
    tool = find_tool([tmp_path / "deploy" / "prod"])
    assert tool.script == script.resolve()
    assert tool.version == "0.9.0" and Path(tool.node).name in ("node", "nodejs")


def test_the_environment_variable_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(tmp_path / "a")
    other = _install(tmp_path / "b")
    monkeypatch.setenv("REDISOPS_COMMANDER", str(other.parent.parent))
    assert find_tool([tmp_path / "a"]).script == other.resolve()


def test_missing_tool_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDISOPS_COMMANDER", raising=False)
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                               if not (Path(p) / "redis-commander").exists()))
    with pytest.raises(MissingToolError) as caught:
        find_tool([tmp_path])
    assert "Redis Commander not found" in caught.value.message and str(tmp_path) in caught.value.message
    assert caught.value.hint is not None and INSTALL_COMMAND in caught.value.hint
    assert caught.value.exit_code == 2


def test_missing_node_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingToolError, match=r"node \(Node.js\) not found.*sudo apt-get install -y nodejs npm"):
        find_tool([tmp_path])


def test_port_in_use_points_at_another_port() -> None:
    text = str(UIPortInUseError(8081, "nginx (pid 42)"))
    assert text == ("127.0.0.1:8081 (Redis Commander's port) is already in use by nginx (pid 42): "
                    "stop that process or pick another port: `redisops ui --port 8082`")

"""The shipped Grafana dashboards against Grafana's dashboard model, and the provisioning files that load them.

Grafana cannot be installed here (not in Debian 12): the model rules it enforces are checked by
``check_dashboard``, which these tests also hold to rejecting broken models.
"""

from __future__ import annotations

import copy
import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from redisops.observe import grafana
from redisops.observe.grafana import (
    DATASOURCE_UID,
    DashboardError,
    check_dashboard,
    dashboard_files,
    load_dashboard,
    panel_queries,
    substitute,
    write_grafana_provisioning,
)


def models() -> dict[str, dict[str, Any]]:
    return {p.stem: load_dashboard(p) for p in dashboard_files()}


def panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    return [*model["panels"], *(p for row in model["panels"] for p in row.get("panels", []))]


def test_the_four_dashboards_ship_and_pass_the_model_check() -> None:
    found = models()
    assert set(found) == {"overview", "sentinel", "cluster", "node"}
    for name, model in found.items():
        assert check_dashboard(model) == [], name
        assert model["schemaVersion"] >= 36
        assert "${DS_" not in json.dumps(model) and "__inputs" not in model


@pytest.mark.parametrize("name", ["overview", "sentinel", "cluster", "node"])
def test_grid_ids_types_and_datasource(name: str) -> None:
    model = models()[name]
    ids = [p["id"] for p in panels(model)]
    assert len(ids) == len(set(ids))
    for panel in panels(model):
        grid = panel["gridPos"]
        assert grid["h"] > 0 and 0 < grid["w"] <= 24 and 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel
        assert panel["type"] in {"timeseries", "stat", "table", "row"}
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}
            assert all(t["datasource"]["uid"] == DATASOURCE_UID and t["expr"] for t in panel["targets"])
    for variable in model["templating"]["list"]:
        assert variable["datasource"]["uid"] == DATASOURCE_UID
        assert variable["query"].startswith("label_values(")
    kinds = {p["type"] for p in panels(model)}
    assert {"timeseries", "stat"} <= kinds


def test_panels_do_not_overlap() -> None:
    for name, model in models().items():
        cells: dict[tuple[int, int], int] = {}
        for panel in panels(model):
            grid = panel["gridPos"]
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in cells, f"{name}: panel {panel['id']} overlaps {cells[(x, y)]}"
                    cells[(x, y)] = panel["id"]


def test_the_issue_s_subjects_have_panels() -> None:
    titles = {name: " | ".join(p["title"].lower() for p in panels(m)) for name, m in models().items()}
    for word in ("master", "failover", "masters named", "replica lag", "quorum"):
        assert word in titles["sentinel"], word
    for word in ("slots", "shards", "commands per second per node", "memory used per node"):
        assert word in titles["cluster"], word
    assert any(p["type"] == "table" for m in models().values() for p in panels(m))


def test_provisioning_defines_the_uid_every_dashboard_uses(tmp_path: Path) -> None:
    files = write_grafana_provisioning(tmp_path / "g", "http://127.0.0.1:9490", scrape_interval_s=5)
    datasources = yaml.safe_load(files.datasources.read_text())
    assert datasources["apiVersion"] == 1
    (source,) = datasources["datasources"]
    assert source == {**source, "uid": DATASOURCE_UID, "type": "prometheus", "access": "proxy",
                      "url": "http://127.0.0.1:9490"}
    assert source["jsonData"]["timeInterval"] == "5s"
    provider = yaml.safe_load(files.provider.read_text())["providers"][0]
    assert provider["type"] == "file" and Path(provider["options"]["path"]) == files.directory / "dashboards"
    assert sorted(p.name for p in files.dashboards) == ["cluster.json", "node.json", "overview.json",
                                                       "sentinel.json"]
    uids = [s["uid"] for s in datasources["datasources"]]
    for path in files.dashboards:
        assert check_dashboard(json.loads(path.read_text()), uids) == [], path
        assert stat.S_IMODE(path.stat().st_mode) & 0o044, "Grafana's user must be able to read it"


def test_a_container_path_for_the_dashboards(tmp_path: Path) -> None:
    files = write_grafana_provisioning(tmp_path, "http://prometheus:9090", dashboards_dir="/var/lib/grafana/dash")
    assert yaml.safe_load(files.provider.read_text())["providers"][0]["options"]["path"] == "/var/lib/grafana/dash"


# --- the validator rejects what Grafana would -------------------------------------------------------------
def broken(change: str) -> dict[str, Any]:
    model = copy.deepcopy(models()["node"])
    first, second = [p for p in model["panels"] if p["type"] != "row"][:2]
    if change == "duplicate id":
        second["id"] = first["id"]
    elif change == "too wide":
        first["gridPos"]["x"], first["gridPos"]["w"] = 20, 6
    elif change == "zero height":
        first["gridPos"]["h"] = 0
    elif change == "old schema":
        model["schemaVersion"] = 22
    elif change == "angular panel":
        first["type"] = "graph"
    elif change == "unknown datasource":
        first["targets"][0]["datasource"] = {"type": "prometheus", "uid": "somewhere-else"}
    elif change == "import input":
        first["datasource"] = "${DS_PROMETHEUS}"
    elif change == "no expr":
        first["targets"][0]["expr"] = ""
    return model


@pytest.mark.parametrize(("change", "words"), [
    ("duplicate id", "is used twice"), ("too wide", "exceeds 24 columns"), ("zero height", "gridPos.h 0"),
    ("old schema", "schemaVersion 22"), ("angular panel", "type 'graph'"),
    ("unknown datasource", "'somewhere-else' is not provisioned"), ("import input", "${DS_"),
    ("no expr", "PromQL expr"),
])
def test_the_validator_rejects_a_broken_model(change: str, words: str) -> None:
    problems = check_dashboard(broken(change))
    assert problems and any(words in p for p in problems), problems


def test_a_broken_dashboard_is_one_error_and_nothing_is_written(tmp_path: Path) -> None:
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({**broken("too wide"), "uid": "mine"}))
    with pytest.raises(DashboardError) as caught:
        write_grafana_provisioning(tmp_path / "out", "http://127.0.0.1:9490", extra=[mine])
    assert "mine.json" in caught.value.message and "exceeds 24 columns" in caught.value.message
    assert caught.value.hint and caught.value.exit_code == 2
    assert not (tmp_path / "out").exists()
    mine.write_text("{not json")
    with pytest.raises(DashboardError, match="cannot read it as JSON"):
        write_grafana_provisioning(tmp_path / "out", "http://127.0.0.1:9490", extra=[mine])


def test_substitution_and_queries() -> None:
    expr = 'rate(x{instance="$instance", g=~"${group}"}[$__rate_interval]) and y[$__range]'
    assert substitute(expr, {"instance": "redis://h:1", "group": "(a|b)", "__rate_interval": "4s",
                             "__range": "60s"}) == 'rate(x{instance="redis://h:1", g=~"(a|b)"}[4s]) and y[60s]'
    queries = panel_queries(models()["node"])
    assert len(queries) >= 30 and all(q.expr and q.ref_id for q in queries)
    assert any(q.instant for q in queries) and any(not q.instant for q in queries)


#: what Grafana would put for the variables and built-ins, for an offline syntax check
SAMPLE = {"instance": "redis://127.0.0.1:6400", "group": "(mymaster|other)", "cluster": "main",
          "__rate_interval": "1m", "__interval": "15s", "__range": "1h", "__range_s": "3600"}


def promql_rules(exprs: list[str]) -> str:
    rules = [{"record": f"redisops:dashboard_check_{i}", "expr": expr} for i, expr in enumerate(exprs)]
    return yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]})


def test_every_panel_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses every expression (variables filled in) as a recording rule: a syntax error fails here,
    without a live Prometheus."""
    exprs = [substitute(q.expr, SAMPLE) for m in models().values() for q in panel_queries(m)]
    assert not [e for e in exprs if "$" in e or "[[" in e], "a variable left unfilled"
    rules = tmp_path / "dashboards.yml"
    rules.write_text(promql_rules(exprs))
    done = subprocess.run(["/usr/bin/promtool", "check", "rules", str(rules)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    rules.write_text(promql_rules([*exprs, "sum by (node) (redis_up{role_kind=\"node\"}"]))  # the check has teeth
    done = subprocess.run(["/usr/bin/promtool", "check", "rules", str(rules)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode != 0


def test_public_surface() -> None:
    assert sorted(grafana.__all__) == grafana.__all__
    assert {"check_dashboard", "write_grafana_provisioning", "check_queries", "DATASOURCE_UID"} <= set(
        grafana.__all__)

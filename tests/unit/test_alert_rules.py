"""The shipped alert rules: ``promtool check rules`` accepts them, ``promtool test rules`` passes on every case in
tests/promtool/ (one where each rule fires, one where it must stay silent), every rule is documented with a
runbook section, and the PromQL tokenizer that finds the metric names they use reads PromQL right.

The live half (every metric name exists on a real exporter and watcher) is
tests/integration/test_alert_rule_metrics.py.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from redisops.observe.rules import metric_names, rule_files
from redisops.observe.rules.promql import tokens

PROMTOOL = "/usr/bin/promtool"
CASES = Path(__file__).parents[1] / "promtool"
DOCS = Path(__file__).parents[2] / "docs" / "alerts-rules.md"

#: exporter metrics that exist only after 1.45 (upstream HEAD): Debian 12's exporter never sends them
HEAD_ONLY = {"redis_sentinel_master_config_epoch", "redis_sentinel_master_last_ok_ping_reply_seconds",
             "redis_max_clients", "redis_evicted_clients_total", "redis_acl_access_denied_auth_total",
             "redis_client_output_buffer_limit_disconnections_total"}


def rules() -> list[dict[str, Any]]:
    found = []
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            found.extend(group["rules"])
    return found


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *map(str, args)], capture_output=True, text=True, timeout=120)


def cases_against(rule_paths: list[Path], directory: Path) -> list[Path]:
    """tests/promtool/*.yml copied into ``directory``, loading ``rule_paths`` instead of the source tree's file."""
    copies = []
    for case in sorted(CASES.glob("*.yml")):
        data = yaml.safe_load(case.read_text())
        data["rule_files"] = [str(p) for p in rule_paths]
        copy = directory / case.name
        copy.write_text(yaml.safe_dump(data, sort_keys=False))
        copies.append(copy)
    return copies


# --- the rule files -------------------------------------------------------------------------------------------

def test_the_public_surface_is_pinned() -> None:
    import redisops.observe.rules as package
    from redisops.observe.rules import promql

    assert sorted(package.__all__) == ["metric_names", "rule_files"]
    assert sorted(promql.__all__) == ["metric_names", "tokens"]


def test_the_package_ships_its_rule_files() -> None:
    files = rule_files()
    assert [p.name for p in files] == ["redis.yml"]
    assert all(p.is_file() for p in files)


def test_promtool_checks_the_rules() -> None:
    result = promtool("check", "rules", *rule_files())
    assert result.returncode == 0, result.stdout + result.stderr
    found = sum(int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", result.stdout))
    assert found == len(rules()) >= 20


def test_promtool_rejects_a_rule_edited_into_invalid_promql(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(rule_files()[0].read_text().replace("redis_up{role_kind!=\"sentinel\"} == 0",
                                                          "redis_up{role_kind!=\"sentinel\" == 0", 1))
    result = promtool("check", "rules", broken)
    assert result.returncode != 0 and "RedisNodeDown" not in result.stdout


def test_every_rule_passes_its_promtool_cases(tmp_path: Path) -> None:
    result = promtool("test", "rules", *cases_against(rule_files(), tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(list(CASES.glob("*.yml")))


def test_a_global_count_of_masters_fails_the_cases(tmp_path: Path) -> None:
    """The anchors' "too many masters" (count over everything) fires on a cluster's three masters and on two
    groups: the cases catch it, so they would catch that regression in our rule too."""
    original = rule_files()[0].read_text()
    ours = 'count by (redis_group) (redis_instance_info{role="master", redis_group!=""}) > 1'
    assert ours in original
    global_count = tmp_path / "rules" / "redis.yml"
    global_count.parent.mkdir()
    global_count.write_text(original.replace(ours, 'count(redis_instance_info{role="master"}) > 1'))
    case = [p for p in cases_against([global_count], tmp_path) if p.name == "replication.yml"]
    result = promtool("test", "rules", *case)
    assert result.returncode != 0
    assert "RedisTwoMastersInGroup" in result.stdout + result.stderr


def test_every_rule_has_a_case_where_it_fires_and_one_where_it_does_not() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for case in CASES.glob("*.yml"):
        for test in yaml.safe_load(case.read_text())["tests"]:
            for check in test.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {r["alert"] for r in rules()}
    assert names - fires == set(), "rules without a case where they fire"
    assert names - silent == set(), "rules without a case where they stay silent"
    assert (fires | silent) - names == set(), "cases for rules that do not exist"


def test_every_rule_is_labelled_annotated_and_documented() -> None:
    doc = DOCS.read_text()
    anchors = {re.sub(r"[^a-z0-9-]", "", h.strip().lower().replace(" ", "-"))
               for h in re.findall(r"^#+ (.+)$", doc, re.M)}
    names = [r["alert"] for r in rules()]
    assert len(names) == len(set(names)), "two rules share a name"
    for rule in rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        notes = rule["annotations"]
        assert set(notes) == {"summary", "description", "runbook"}, name
        assert "$labels." in notes["summary"] + notes["description"], f"{name} names no node or group"
        page, _, anchor = notes["runbook"].partition("#")
        assert page == "docs/alerts-rules.md" and anchor == name.lower(), name
        assert anchor in anchors, f"docs/alerts-rules.md has no section for {name}"
        assert f"| `{name}` |" in doc, f"docs/alerts-rules.md's table lacks {name}"


def test_rules_read_only_exporter_1_45_and_watcher_metrics() -> None:
    used = set().union(*(metric_names(r["expr"]) for r in rules()))
    assert used & HEAD_ONLY == set()
    assert {n for n in used if not n.startswith(("redis_", "redisops_"))} == {"up"}


# --- the PromQL tokenizer -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("expr", "names"), [
    ("redis_up == 0", {"redis_up"}),
    ('redis_up{role_kind!="sentinel", instance=~"redis://.*"} == 0', {"redis_up"}),
    ("sum by (instance, job) (rate(redis_commands_total[5m]))", {"redis_commands_total"}),
    ("sum(rate(a_total[1m])) without (cmd) / ignoring(x) group_left(role) b", {"a_total", "b"}),
    ("SUM BY (x) (a) AND ON (x) b OR c UNLESS d", {"a", "b", "c", "d"}),
    ("count by (m) (count by (m, addr) (last_over_time(s[10m]))) > 1", {"s"}),
    ("a - on(instance) group_right() b > 64 * 1024 * 1024", {"a", "b"}),
    ("a > bool 1e3 and b < Inf or c > -NaN", {"a", "b", "c"}),
    ("a offset 5m unless a offset -1h30m", {"a"}),
    ("max_over_time(deriv(a[5m])[1h:30s]) + b[5m:] @ start()", {"a", "b"}),
    ("c @ 1609746000 + 0x1F", {"c"}),
    ('{__name__="redis_up", job="x"} or vector(0)', {"redis_up"}),
    ('label_replace(up, "dst", "$1 by (x)", "src", "(.*)") + time()', {"up"}),
    ("time() - redisops_backup_last_success_timestamp_seconds > 26 * 3600", {"redisops_backup_last_success_timestamp_seconds"}),
    ("a # a comment naming not_a_metric\n + b", {"a", "b"}),
    ("topk(3, a) + quantile(0.9, b) + count_values(\"v\", c)", {"a", "b", "c"}),
    ("ns:metric:rate5m > 1", {"ns:metric:rate5m"}),
    ("a{on=\"x\", by=\"y\"} * on (by) b", {"a", "b"}),
])
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


@pytest.mark.parametrize(("expr", "message"), [
    ('redis_up{role_kind="sentinel" == 0', "unclosed '{'"),
    ("rate(a[5m]", "unclosed '('"),
    ("sum by (x (a)", "unclosed '('"),
    ("a[5m)]", "unbalanced ')'"),
    ("a ! b", "unexpected '!'"),
    ('a{x="unterminated}', "unexpected '\"'"),
    ("a > 5mb", "unexpected '5'"),
    ('{__name__=~"redis_.*"}', "matches names by pattern"),
])
def test_unreadable_promql_is_an_error(expr: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        metric_names(expr)


def test_tokens_keep_strings_whole() -> None:
    assert [(t.kind, t.text) for t in tokens('a{x="b}c"} # done')] == [
        ("ident", "a"), ("op", "{"), ("ident", "x"), ("op", "="), ("string", '"b}c"'), ("op", "}")]


def test_the_runbook_links_lead_somewhere() -> None:
    """Every relative link of docs/alerts-rules.md names an existing page and, with ``#``, one of its headings."""
    links = re.findall(r"\]\(([^)#]+\.md)(?:#([^)]+))?\)", DOCS.read_text())
    assert len(links) > 10
    for page, anchor in links:
        target = DOCS.parent / page
        assert target.is_file(), page
        if anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(), re.M)
            slugs = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
            assert anchor in slugs, f"{page} has no heading #{anchor}"


def test_the_docs_table_says_what_the_rules_do() -> None:
    """docs/alerts-rules.md's table gives each rule's 'for' and severity as the rule file has them."""
    rows = {m[0]: (m[1], m[2]) for m in re.findall(r"^\| `(\w+)` \| .+ \| ([^|]+?) \| (critical|warning) \|$",
                                                   DOCS.read_text(), re.M)}
    assert set(rows) == {r["alert"] for r in rules()}
    for rule in rules():
        assert rows[rule["alert"]] == (rule.get("for", "–"), rule["labels"]["severity"]), rule["alert"]

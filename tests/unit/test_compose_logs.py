"""The Loki and promtail configs of the Compose project, held to real Redis / Sentinel log lines.

Loki and promtail cannot run here (neither is packaged for Debian 12), so the pipeline is checked by
replaying it in Python stage by stage, with promtail's documented semantics (regex: named groups into the
extracted map; template: an empty result deletes the key; labels: set only keys that exist; timestamp:
Go layout, ``skip`` keeps the scrape time), over lines written by real redis-server / redis-sentinel
7.0.15: the corpus in tests/logs_corpus and a server started here with ``loglevel debug`` logging to
stdout with its logo, as a Compose container does.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from redisops.errors import InputError
from redisops.observe.compose_logs import (
    LEVEL_NAMES,
    LOG_LINE_PATTERN,
    LOKI_IMAGE,
    LOKI_PORT,
    PROMTAIL_IMAGE,
    ROLE_NAMES,
    loki_config,
    promtail_config,
)
from redisops.observe.logs.lines import HEADER, parse_line
from redisops.testing import allocate_ports, assert_eventually

CORPUS = Path(__file__).parent.parent / "logs_corpus" / "run1"
LINE = re.compile(LOG_LINE_PATTERN)
CONTAINER = {"node": "mymaster-0", "kind": "redis", "service": "mymaster-0", "deployment": "demo"}


def corpus_lines() -> list[str]:
    return [line for path in sorted(CORPUS.glob("*.log")) for line in path.read_text().splitlines()]


def stages(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    stage_list: list[dict[str, Any]] = config["scrape_configs"][0]["pipeline_stages"]
    return stage_list


def stage(config: Mapping[str, Any], kind: str, source: str | None = None) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s[kind] for s in stages(config)
                                   if kind in s and (source is None or s[kind].get("source") == source)]
    assert len(found) == 1, f"expected one {kind} stage (source {source}), found {len(found)}"
    return found[0]


# --- the Go template chain and the Go time layout, read back -----------------------------------------------

CHAIN = re.compile(r'\{\{ if eq \.Value "[^"]" \}\}[a-z]+(?:\{\{ else if eq \.Value "[^"]" \}\}[a-z]+)*\{\{ end \}\}')
BRANCH = re.compile(r'eq \.Value "([^"])" \}\}([a-z]+)')


def parse_chain(template: str) -> dict[str, str]:
    """``{{ if eq .Value "M" }}master{{ else if ... }}{{ end }}`` -> {"M": "master", ...}; no else branch."""
    assert CHAIN.fullmatch(template), f"not an if / else-if chain without else: {template!r}"
    pairs = BRANCH.findall(template)
    assert len({char for char, _ in pairs}) == len(pairs), f"a character twice in {template!r}"
    return dict(pairs)


GO_TO_STRPTIME = {"2006": "%Y", "Jan": "%b", "02": "%d", "15": "%H", "04": "%M", "05": "%S", ".000": ".%f"}


def strptime_format(layout: str) -> str:
    """A Go reference-time layout as a strptime format; fails on any element not in the table."""
    out, pos = [], 0
    token = re.compile("|".join(re.escape(t) for t in GO_TO_STRPTIME) + r"|[ :]")
    while pos < len(layout):
        match = token.match(layout, pos)
        assert match, f"layout element at {layout[pos:]!r} has no strptime equivalent here"
        out.append(GO_TO_STRPTIME.get(match.group(), match.group()))
        pos = match.end()
    return "".join(out)


# --- promtail's pipeline, replayed --------------------------------------------------------------------------

def ship(config: Mapping[str, Any], line: str, labels: Mapping[str, str]) -> tuple[dict[str, str], datetime | None]:
    """The labels and timestamp (None: Docker's own) promtail would send ``line`` with."""
    out, extracted, when = dict(labels), dict(labels), None
    for entry in stages(config):
        ((kind, cfg),) = entry.items()
        if kind == "regex":
            match = re.search(cfg["expression"], line)
            if match:
                extracted.update({k: v for k, v in match.groupdict().items() if v is not None})
        elif kind == "template":
            rendered = parse_chain(cfg["template"]).get(extracted.get(cfg["source"], ""), "")
            if rendered:
                extracted[cfg["source"]] = rendered
            else:
                extracted.pop(cfg["source"], None)
        elif kind == "labels":
            out.update({name: extracted[src or name] for name, src in cfg.items() if (src or name) in extracted})
        elif kind == "timestamp":
            try:
                when = datetime.strptime(extracted[cfg["source"]], strptime_format(cfg["format"]))
            except (KeyError, ValueError):
                assert cfg.get("action_on_failure") == "skip"
        else:
            raise AssertionError(f"stage {kind} is not expected in this pipeline")
    return out, when


# --- a real server logging to stdout at debug level, with its logo -------------------------------------------

@pytest.fixture(scope="module")
def debug_server_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    binary = shutil.which("redis-server")
    assert binary, "redis-server not found: `sudo apt-get install -y redis-server` (or `make up`)"
    work = tmp_path_factory.mktemp("debuglog")
    port, out = allocate_ports(), work / "stdout.log"
    with out.open("wb") as sink:
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--loglevel", "debug",
                                 "--logfile", "", "--always-show-logo", "yes", "--save", "", "--appendonly", "no",
                                 "--dir", str(work)], stdout=sink, stderr=subprocess.STDOUT, cwd=work)
    try:
        client = redis.Redis("127.0.0.1", port, socket_timeout=5)

        def answers() -> None:
            try:
                client.ping()
            except redis.ConnectionError as exc:
                raise AssertionError(f"not answering yet: {exc}") from exc

        assert_eventually(answers, within=10)
        client.close()  # its connection's close is logged at verbose level

        def debug_and_verbose_written() -> list[str]:
            lines = out.read_text().splitlines()
            assert any(re.match(r"\d+:M .{24} - Client closed", line) for line in lines), "no verbose line yet"
            assert any(re.match(r"\d+:M .{24} \. ", line) for line in lines), "no debug line yet"
            return lines

        return assert_eventually(debug_and_verbose_written, within=10)
    finally:
        proc.kill()
        proc.wait(timeout=10)


# --- the pattern ----------------------------------------------------------------------------------------------

def test_pattern_stays_in_the_re2_subset() -> None:
    """RE2 (promtail's Go regexp) has no lookarounds, backreferences, atomic or possessive groups."""
    forbidden = [r"\(\?[=!]", r"\(\?<[=!]", r"\(\?>", r"\(\?P=", r"\\[1-9]", r"\\k<", r"[*+?}]\+",
                 r"\(\?\(", r"\\[ZG]"]
    for construct in forbidden:
        assert not re.search(construct, LOG_LINE_PATTERN), f"{construct} in {LOG_LINE_PATTERN}"
    # promtail's regex stage wants every capture group named; non-capturing groups are not
    assert not re.search(r"(?<!\\)\((?!\?)", LOG_LINE_PATTERN)
    assert set(LINE.groupindex) == {"role", "time", "level"}


def test_pattern_matches_every_prefixed_line_of_the_corpus_like_the_scanner() -> None:
    """Every corpus line with the ``pid:role date level`` prefix (the scanner's own parser as the oracle)
    matches, with the same role, level and time."""
    lines = corpus_lines()
    prefixed = [line for line in lines if HEADER.match(line.encode())]
    assert len(prefixed) == len(lines) > 500
    for line in prefixed:
        match = LINE.search(line)
        assert match, line
        parsed = parse_line(line)
        assert parsed is not None
        assert (match["role"], match["level"]) == (parsed.role, parsed.level), line
        assert match["time"] == line.split(" ", 1)[1][:24], line


@pytest.mark.parametrize(("source", "line", "role", "level"), [
    ("mymaster-sentinel-0.log",
     "27828:X 03 Dec 2026 13:32:40.505 # +switch-master mymaster 127.0.0.1 11850 127.0.0.1 11851",
     "sentinel", "warning"),
    ("mymaster-0.log", "27782:M 03 Dec 2026 13:32:35.103 * Ready to accept connections", "master", "notice"),
    ("mymaster-1.log", "27787:S 03 Dec 2026 13:32:37.266 # Connection with master lost.", "replica", "warning"),
    ("mymaster-0.log", "27843:C 03 Dec 2026 13:32:36.112 * Fork CoW for RDB: current 0 MB, peak 0 MB, average 0 MB",
     "child", "notice"),
])
def test_corpus_lines_ship_with_their_role_level_and_own_time(source: str, line: str, role: str, level: str) -> None:
    assert line in (CORPUS / source).read_text().splitlines()  # a real line, not a hand-written one
    labels, when = ship(promtail_config(deployment="demo", loki_url="http://loki:3100"), line, CONTAINER)
    assert labels == {**CONTAINER, "role": role, "level": level}
    parsed = parse_line(line)
    assert parsed is not None and when == parsed.time


def test_debug_and_verbose_lines_of_a_real_server_get_their_levels(debug_server_lines: list[str]) -> None:
    config = promtail_config(deployment="demo", loki_url="http://loki:3100")
    seen = set()
    for line in debug_server_lines:
        match = LINE.search(line)
        if match:
            labels, when = ship(config, line, CONTAINER)
            assert labels["level"] == LEVEL_NAMES[match["level"]] and labels["role"] == ROLE_NAMES[match["role"]]
            assert when is not None
            seen.add(labels["level"])
    assert seen == {"debug", "verbose", "notice", "warning"}


def test_the_logo_does_not_match_and_still_ships_with_the_container_labels(debug_server_lines: list[str]) -> None:
    """Redis' ASCII-art logo (as redis-server writes it to stdout): no role, no level, Docker's time; and no
    stage of the pipeline drops anything."""
    logo = [line for line in debug_server_lines if "Redis 7" in line or "https://redis.io" in line or "_._" in line]
    assert len(logo) >= 3, debug_server_lines[:25]
    config = promtail_config(deployment="demo", loki_url="http://loki:3100")
    for line in logo + ["", "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***"]:
        assert not LINE.search(line), line
        assert ship(config, line, CONTAINER) == (CONTAINER, None)
    assert "drop" not in yaml.safe_dump(config)
    assert all(kind not in ("drop", "match", "limit", "sampling") for s in stages(config) for kind in s)


# --- the templates and the timestamp --------------------------------------------------------------------------

def test_template_chains_name_every_role_and_level_and_nothing_else() -> None:
    config = promtail_config(deployment="demo", loki_url="http://loki:3100")
    assert parse_chain(stage(config, "template", "role")["template"]) == dict(ROLE_NAMES)
    assert parse_chain(stage(config, "template", "level")["template"]) == dict(LEVEL_NAMES)
    assert dict(ROLE_NAMES) == {"M": "master", "S": "replica", "X": "sentinel", "C": "child"}
    assert dict(LEVEL_NAMES) == {".": "debug", "-": "verbose", "*": "notice", "#": "warning"}
    # the regex extracts exactly the characters the chains know
    assert set(re.findall(r"\(\?P<role>\[([^]]+)\]\)", LOG_LINE_PATTERN)[0]) == set(ROLE_NAMES)
    assert set(re.findall(r"\(\?P<level>\[([^]]+)\]\)", LOG_LINE_PATTERN)[0]) == set(LEVEL_NAMES)
    labels = stage(config, "labels")
    assert {name: src or name for name, src in labels.items()} == {"role": "role", "level": "level"}


def test_timestamp_layout_reads_a_real_line_to_the_millisecond() -> None:
    config = promtail_config(deployment="demo", loki_url="http://loki:3100")
    ts = stage(config, "timestamp")
    assert ts["source"] == "time" and ts["action_on_failure"] == "skip"
    assert strptime_format(ts["format"]) == "%d %b %Y %H:%M:%S.%f"
    match = LINE.search("27782:M 03 Dec 2026 13:32:35.092 # Server initialized")
    assert match
    assert datetime.strptime(match["time"], strptime_format(ts["format"])) == datetime(2026, 12, 3, 13, 32, 35, 92000)


# --- the configs' structure -------------------------------------------------------------------------------------

def test_promtail_reads_this_deployments_node_containers_through_the_socket() -> None:
    config = promtail_config(deployment="shop", loki_url="http://loki:3100/")
    assert config["positions"] == {"filename": "/promtail/positions.yaml"}
    assert config["clients"] == [{"url": "http://loki:3100/loki/api/v1/push"}]
    ((scrape),) = config["scrape_configs"]
    ((sd),) = scrape["docker_sd_configs"]
    assert sd["host"] == "unix:///var/run/docker.sock"
    assert sd["filters"] == [{"name": "label", "values": ["io.redisops.deployment=shop", "io.redisops.node"]}]
    # relabelling (replace, the default action): each container label becomes its Loki label
    docker_labels = {"io.redisops.node": "shop-sentinel-1", "io.redisops.kind": "sentinel",
                     "com.docker.compose.service": "shop-sentinel-1", "io.redisops.deployment": "shop"}
    meta = {"__meta_docker_container_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", k): v for k, v in docker_labels.items()}
    target = {}
    for rule in scrape["relabel_configs"]:
        assert rule.get("action", "replace") == "replace" and set(rule) <= {"source_labels", "target_label"}
        target[rule["target_label"]] = ";".join(meta[s] for s in rule["source_labels"])
    assert target == {"node": "shop-sentinel-1", "kind": "sentinel", "service": "shop-sentinel-1",
                      "deployment": "shop"}


def test_promtail_keeps_a_full_push_url_and_refuses_bad_input() -> None:
    url = "https://logs.example:3100/loki/api/v1/push"
    assert promtail_config(deployment="x", loki_url=url)["clients"] == [{"url": url}]
    for bad in ("loki:3100", "ftp://loki", "http://", ""):
        with pytest.raises(InputError, match="not an http"):
            promtail_config(deployment="x", loki_url=bad)
    with pytest.raises(InputError) as err:
        promtail_config(deployment=" ", loki_url="http://loki:3100")
    assert err.value.hint


def test_loki_is_one_process_on_the_filesystem_with_retention() -> None:
    config = loki_config(retention_days=14)
    assert config["auth_enabled"] is False
    assert config["server"]["http_listen_port"] == LOKI_PORT == 3100
    common = config["common"]
    assert common["path_prefix"] == "/loki" and common["replication_factor"] == 1
    assert common["ring"]["kvstore"]["store"] == "inmemory"
    ((period),) = config["schema_config"]["configs"]
    assert (period["store"], period["schema"], period["object_store"]) == ("tsdb", "v13", "filesystem")
    assert period["index"]["period"] == "24h"  # retention needs a 24h index period
    datetime.strptime(period["from"], "%Y-%m-%d")
    compactor = config["compactor"]
    assert compactor["retention_enabled"] is True
    assert compactor["delete_request_store"] == "filesystem"  # Loki 3 refuses retention without it
    assert config["limits_config"]["retention_period"] == "336h"
    text = yaml.safe_dump(config)
    assert "shared_store" not in text  # removed in Loki 3.0: an unknown key stops it
    paths = [v for v in re.findall(r"(?m)^\s*\w+: (/\S*)$", text)]
    assert paths and all(p == "/loki" or p.startswith("/loki/") for p in paths), paths


@pytest.mark.parametrize("days", [0, -3, True, 1.5, "7"])
def test_loki_refuses_a_retention_that_is_not_whole_days(days: Any) -> None:
    with pytest.raises(InputError, match="retention") as err:
        loki_config(retention_days=days)
    assert err.value.hint and "24h" in err.value.hint


def test_both_configs_survive_a_yaml_round_trip() -> None:
    for config in (loki_config(retention_days=7), promtail_config(deployment="demo", loki_url="http://loki:3100")):
        text = yaml.safe_dump(config, sort_keys=False)
        assert yaml.safe_load(text) == config
    again = yaml.safe_load(yaml.safe_dump(promtail_config(deployment="demo", loki_url="http://loki:3100")))
    assert stage(again, "regex")["expression"] == LOG_LINE_PATTERN


def test_images_are_pinned_to_one_minor() -> None:
    loki_tag, promtail_tag = LOKI_IMAGE.split(":")[1], PROMTAIL_IMAGE.split(":")[1]
    assert LOKI_IMAGE.startswith("grafana/loki:") and PROMTAIL_IMAGE.startswith("grafana/promtail:")
    assert re.fullmatch(r"3\.\d+\.\d+", loki_tag) and re.fullmatch(r"3\.\d+\.\d+", promtail_tag)
    assert loki_tag.rsplit(".", 1)[0] == promtail_tag.rsplit(".", 1)[0]


def test_public_surface_is_what_the_compose_renderer_codes_against() -> None:
    module = importlib.import_module("redisops.observe.compose_logs")
    assert sorted(module.__all__) == ["LEVEL_NAMES", "LOG_LINE_PATTERN", "LOKI_IMAGE", "LOKI_PORT", "PROMTAIL_IMAGE",
                                      "ROLE_NAMES", "loki_config", "promtail_config"]
    with pytest.raises(TypeError):
        module.ROLE_NAMES["Z"] = "zombie"  # shared with the log scanner: read-only here

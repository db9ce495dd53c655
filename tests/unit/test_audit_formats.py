"""The audit's outputs: SARIF 2.1.0 valid against the official OASIS schema (tests/schemas/sarif-schema-2.1.0.json,
from oasis-tcs/sarif-spec sarif-2.1/schema, checked with check-jsonschema), JUnit XML with one test case per check and
target and a failure per finding, the --json envelope, --fail-on, and bad input as one line."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import cli_json
import pytest

from redisops.security.audit import (
    Finding,
    Kind,
    Layer,
    Report,
    Severity,
    Target,
    TargetError,
    audit_files,
    junit_xml,
    sarif,
)

CORPUS = Path(__file__).resolve().parents[1] / "audit_corpus"
SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "sarif-schema-2.1.0.json"
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
REDISOPS = [sys.executable, "-m", "redisops"]


def corpus_copy(tmp_path: Path, *names: str) -> list[Path]:
    out = []
    for name in names:
        target = tmp_path / name
        shutil.copy(CORPUS / name, target)
        target.chmod(0o600)
        out.append(target)
    return out


def validate_sarif(document: object, tmp_path: Path) -> None:
    out = tmp_path / "audit.sarif"
    out.write_text(json.dumps(document))
    done = subprocess.run([str(CHECK_JSONSCHEMA), "--schemafile", str(SCHEMA), str(out)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def live_report() -> Report:
    target = Target("mymaster-0 (127.0.0.1:6400)", Kind.REDIS, Layer.LIVE)
    finding = Finding("RA001", Severity.CRITICAL, "no authentication", target.name, "the default user is on with "
                      "nopass", "set requirepass", Layer.LIVE)
    return Report(Layer.LIVE, [target], [finding], Severity.HIGH, [TargetError("127.0.0.1:6401", "unreachable")])


def test_sarif_of_the_static_corpus_is_valid(tmp_path: Path) -> None:
    files = corpus_copy(tmp_path, "37-public-everything.conf", "22-sentinel-debian-default.conf", "01-clean.conf")
    report = audit_files(files)
    document = sarif(report)
    validate_sarif(document, tmp_path)
    run = document["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert len(rule_ids) >= 25 and rule_ids == sorted(rule_ids)
    results = run["results"]
    assert len(results) == len(report.findings)
    debug = next(r for r in results if r["ruleId"] == "RA010")
    location = debug["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"].endswith("37-public-everything.conf")
    assert location["region"]["startLine"] == 5
    assert debug["level"] == "error" and rule_ids[debug["ruleIndex"]] == "RA010"


def test_sarif_of_a_live_report_is_valid(tmp_path: Path) -> None:
    document = sarif(live_report())
    validate_sarif(document, tmp_path)
    result = document["runs"][0]["results"][0]
    assert result["locations"][0]["logicalLocations"][0]["name"] == "mymaster-0 (127.0.0.1:6400)"
    assert document["runs"][0]["invocations"][0]["executionSuccessful"] is False


def test_sarif_validation_would_catch_a_broken_document(tmp_path: Path) -> None:
    document = sarif(live_report())
    document["runs"][0]["results"][0]["level"] = "severe"  # not a SARIF level
    with pytest.raises(AssertionError):
        validate_sarif(document, tmp_path)


def test_junit_one_case_per_check_and_target_failures_per_finding(tmp_path: Path) -> None:
    files = corpus_copy(tmp_path, "14-debug-command.conf", "01-clean.conf")
    report = audit_files(files)
    root = ET.fromstring(junit_xml(report))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [str(f) for f in files]
    static_redis_checks = [c for c in report.checks() if c.applies(report.targets[0])]
    for suite in suites:
        cases = suite.findall("testcase")
        assert len(cases) == int(suite.get("tests", "-1")) == len(static_redis_checks)
        assert int(suite.get("failures", "-1")) == len(suite.findall("testcase/failure"))
    debug_suite, clean_suite = suites
    failed = {c.get("name", "").split()[0] for c in debug_suite.findall("testcase") if c.find("failure") is not None}
    assert failed == {f.check for f in report.findings if f.target == str(files[0])}
    assert "RA010" in failed and clean_suite.findall("testcase/failure") == []
    failure = debug_suite.find("testcase/failure")
    assert failure is not None and failure.get("type") in {s.value for s in Severity}
    assert int(root.get("tests", "0")) == sum(int(s.get("tests", "0")) for s in suites)


def test_junit_lists_nodes_not_audited_as_errors() -> None:
    root = ET.fromstring(junit_xml(live_report()))
    assert root.get("errors") == "1"
    error = root.find("testsuite/testcase/error")
    assert error is not None and error.get("message") == "unreachable"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REDISOPS, "audit", *args], capture_output=True, text=True, timeout=60)


def test_cli_formats_and_fail_on(tmp_path: Path) -> None:
    (conf,) = corpus_copy(tmp_path, "27-maxmemory-unset.conf")  # one medium finding
    done = cli("--config", str(conf), "--format", "json")  # the same envelope as --json
    assert done.returncode == 0, done.stderr  # below the default --fail-on high
    data = cli_json.data(done.stdout, "audit")
    assert [f["id"] for f in data["findings"]] == ["RA022"] and data["failing"] == 0
    table = cli("--config", str(conf), "--fail-on", "medium")
    assert table.returncode == 1
    assert "RA022" in table.stdout and "maxmemory unset" in table.stdout
    sarif_out = cli("--config", str(conf), "--format", "sarif")
    validate_sarif(json.loads(sarif_out.stdout), tmp_path)
    junit_out = cli("--config", str(conf), "--format", "junit")
    assert ET.fromstring(junit_out.stdout).get("failures") == "1"


@pytest.mark.parametrize(("content", "words"), [
    ("name: demo\nsentinel:\n  - {name: m}\n", "is not a redis.conf"),
    ("port 6379\nrequirepass \"unterminated\n", "unbalanced quotes"),
    (b"\x7fELF\x00\x00binary", "binary file"),
])
def test_not_a_config_is_one_line(tmp_path: Path, content: str | bytes, words: str) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    done = cli("--config", str(bad))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in done.stderr, done.stderr


def test_unreachable_seed_is_one_line() -> None:
    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        done = cli("--seed", f"127.0.0.1:{port}")
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no node could be audited" in lines[0] and "unreachable" in lines[0], done.stderr


def test_bad_input_json_and_usage(tmp_path: Path) -> None:
    error = cli_json.error(cli("--config", str(tmp_path / "nope.conf"), "--json"), "audit")
    assert "no such file" in error["message"] and error["hint"] and error["exit_code"] == 2
    usage = cli("--config", str(tmp_path / "nope.conf"), "--format", "xml")
    assert usage.returncode == 2 and "--format" in usage.stderr

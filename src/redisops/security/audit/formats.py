"""The audit as SARIF 2.1.0 (code-scanning UIs) and JUnit XML (any CI's test report).

SARIF: one run, every check of the layer as a rule (with its fix as help and a
``security-severity`` GitHub uses to rank), one result per finding, located in
the config file and line for the static layer, at the node (a logical
location) for the live one.  JUnit: one test suite per target, one test case
per check that applies to it, a ``<failure>`` for each finding (its severity as
the type), so a CI shows which check failed where.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from redisops.security.audit.engine import Report
from redisops.security.audit.model import Finding, Severity

__all__ = ["SARIF_SCHEMA", "junit_xml", "sarif"]

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
          Severity.LOW: "note", Severity.INFO: "note"}
#: GitHub code scanning ranks by this number: critical > 9, high 7-8.9, medium 4-6.9, low < 4
_SCORE = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "3.0",
          Severity.INFO: "0.0"}


def _version() -> str:
    try:
        return version("redisops")
    except PackageNotFoundError:
        return "0"


def sarif(report: Report) -> dict[str, Any]:
    checks = report.checks()
    index = {c.id: i for i, c in enumerate(checks)}
    rules = [{
        "id": c.id,
        "name": "".join(w.capitalize() for w in c.title.replace("-", " ").split() if w.isalnum()) or c.id,
        "shortDescription": {"text": c.title},
        "fullDescription": {"text": c.explanation},
        "help": {"text": f"Fix: {c.fix}", "markdown": f"**Fix:** {c.fix}"},
        "defaultConfiguration": {"level": _LEVEL[c.severity]},
        "properties": {"security-severity": _SCORE[c.severity], "severity": str(c.severity),
                       "tags": ["security", "redis", *sorted(str(layer) for layer in c.layers)]},
    } for c in checks]
    results = [_result(f, index) for f in report.findings if f.check in index]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "redisops audit", "version": _version(), "rules": rules}},
        "results": results,
        "invocations": [{"executionSuccessful": not report.errors,
                         "toolExecutionNotifications": [
                             {"level": "error", "message": {"text": f"{e.target}: {e.message}"}}
                             for e in report.errors]}],
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _result(finding: Finding, index: dict[str, int]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.check, "ruleIndex": index[finding.check], "level": _LEVEL[finding.severity],
        "message": {"text": f"{finding.target}: {finding.message}. Fix: {finding.fix}"},
        "properties": {"severity": str(finding.severity), "target": finding.target},
    }
    if finding.file:
        physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(finding.file)}}
        if finding.line:
            physical["region"] = {"startLine": finding.line}
        result["locations"] = [{"physicalLocation": physical}]
    else:
        result["locations"] = [{"logicalLocations": [{"name": finding.target, "kind": "resource"}]}]
    return result


def _uri(file: str) -> str:
    path = Path(file)
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_uri()


def junit_xml(report: Report) -> str:
    by_target: dict[str, list[Finding]] = defaultdict(list)
    for finding in report.findings:
        by_target[finding.target].append(finding)
    root = ET.Element("testsuites", name="redisops audit")
    total = failures = 0
    for target in report.targets:
        suite = ET.SubElement(root, "testsuite", name=target.name)
        cases = fails = 0
        for chk in (c for c in report.checks() if c.applies(target)):
            cases += 1
            case = ET.SubElement(suite, "testcase", classname=f"audit.{target.kind}.{target.name}",
                                 name=f"{chk.id} {chk.title}")
            for finding in (f for f in by_target[target.name] if f.check == chk.id):
                fails += 1
                where = f" ({finding.file}:{finding.line})" if finding.file and finding.line else ""
                failure = ET.SubElement(case, "failure", message=f"{finding.message}{where}",
                                        type=str(finding.severity))
                failure.text = f"{chk.explanation}\nFix: {chk.fix}"
        suite.set("tests", str(cases))
        suite.set("failures", str(fails))
        suite.set("errors", "0")
        total, failures = total + cases, failures + fails
    for error in report.errors:
        suite = ET.SubElement(root, "testsuite", name=error.target, tests="1", failures="0", errors="1")
        case = ET.SubElement(suite, "testcase", classname=f"audit.{error.target}", name="reachable")
        ET.SubElement(case, "error", message=error.message)
        total += 1
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", str(len(report.errors)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

"""The static audit over tests/audit_corpus: every misconfigured config reports exactly its expected check ids at
medium or above (expected.yaml), no misses and no extras; the hardened baselines report none."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from redisops.security.audit import Severity, audit_files

CORPUS = Path(__file__).resolve().parents[1] / "audit_corpus"
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus in a temp dir with the modes a careful admin sets (git keeps none), then the planted ones."""
    root = tmp_path_factory.mktemp("audit_corpus") / "corpus"
    shutil.copytree(CORPUS, root)
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o700)
        for name in filenames:
            os.chmod(Path(dirpath) / name, 0o600)
    for name, mode in EXPECTED["modes"].items():
        os.chmod(root / name, int(mode, 8))
    return root


def test_corpus_is_large_enough() -> None:
    misconfigured = [name for name, ids in EXPECTED["expected"].items() if ids]
    assert len(misconfigured) >= 30
    on_disk = {p.name for p in CORPUS.glob("*.conf")}
    assert on_disk == set(EXPECTED["expected"]), "every config has an expectation and every expectation a config"


@pytest.mark.parametrize("name", sorted(EXPECTED["expected"]))
def test_corpus_file_reports_exactly_its_findings(corpus: Path, name: str) -> None:
    report = audit_files([corpus / name])
    found = sorted({f.check for f in report.findings if f.severity.rank >= Severity.MEDIUM.rank})
    assert found == sorted(EXPECTED["expected"][name]), [f"{f.check} {f.message}" for f in report.findings]


def test_corpus_covers_most_checks() -> None:
    covered = {i for ids in EXPECTED["expected"].values() for i in ids}
    assert len(covered) >= 25


def test_findings_never_show_a_password(corpus: Path) -> None:
    report = audit_files(sorted(corpus.glob("*.conf")))
    text = repr([(f.message, f.title, f.fix) for f in report.findings])  # file names may say "foobared"
    for word in ("foobared", "redis123", "kq3Vw9ZpL2xR7tNb4YcH8mJf6DsG1aUe5WoQ0iTzXyK", "Sh0rt-but-random-9x"):
        assert word not in text


def test_findings_point_at_the_line(corpus: Path) -> None:
    report = audit_files([corpus / "14-debug-command.conf"])
    debug = next(f for f in report.findings if f.check == "RA010")
    assert debug.file is not None and debug.file.endswith("14-debug-command.conf")
    lines = Path(debug.file).read_text().splitlines()
    assert debug.line is not None and lines[debug.line - 1] == "enable-debug-command yes"


def test_include_findings_point_into_the_included_file(corpus: Path) -> None:
    report = audit_files([corpus / "34-include-weak.conf"])
    weak = next(f for f in report.findings if f.check == "RA003")
    assert weak.file is not None and weak.file.endswith("34-include-weak.d/auth.conf") and weak.line == 2


def test_checks_across_files(corpus: Path) -> None:
    """Audited together, a plaintext sentinel beside TLS data nodes is reported on the sentinel (RA017)."""
    report = audit_files([corpus / "18-tls-auth-clients-no.conf", corpus / "02-clean-sentinel.conf"])
    plaintext = [f for f in report.findings if f.check == "RA017"]
    assert [f.target for f in plaintext] == [str(corpus / "02-clean-sentinel.conf")]
    alone = audit_files([corpus / "02-clean-sentinel.conf"])
    assert not [f for f in alone.findings if f.check == "RA017"]

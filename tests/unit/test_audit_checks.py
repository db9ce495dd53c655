"""The audit's pieces: the registry's contract, config line splitting as Redis does, ACL rule evaluation, password
strength, certificate expiry, the host facts, the Debian CVE table compared with dpkg's own version rules."""

from __future__ import annotations

import datetime
import os
import shutil
import socket
from pathlib import Path

import pytest

from redisops.security.audit import Layer, Severity, all_checks, audit_files, load_config
from redisops.security.audit.acl import parse_user
from redisops.security.audit.checks_access import entropy_bits
from redisops.security.audit.conf import ConfigFileError, split_args
from redisops.security.audit.host import cve_table, fixed_after, listening_ports, read_host, version_older


def test_public_names_are_pinned() -> None:
    import redisops.security.audit as audit

    assert sorted(audit.__all__) == sorted([
        "Check", "ConfigFileError", "Finding", "Kind", "Layer", "LiveNode", "Report", "Severity", "Target",
        "TargetError", "TlsClient", "all_checks", "audit_files", "audit_live", "junit_xml", "load_config", "nodes_from_seeds",
        "nodes_from_spec", "run_checks", "sarif"])
    for name in audit.__all__:
        getattr(audit, name)


def test_registry_contract() -> None:
    checks = all_checks()
    assert len(checks) >= 25
    ids = [c.id for c in checks]
    assert ids == sorted(set(ids)) and all(i.startswith("RA") and len(i) == 5 for i in ids)
    for c in checks:
        assert c.title and c.explanation and c.fix and c.layers and c.kinds, c.id
        assert "\n" not in c.fix
    assert {Layer.STATIC} < {layer for c in checks for layer in c.layers}
    assert {c.severity for c in checks} == set(Severity)


def test_docs_list_every_check_as_registered() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text()
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:5]]
            for line in docs.splitlines() if line.startswith("| RA")}
    assert rows == {c.id: [str(c.severity), "+".join(sorted(str(x) for x in c.layers)),
                           ", ".join(sorted(str(k) for k in c.kinds))] for c in all_checks()}


@pytest.mark.parametrize(("line", "args"), [
    ('requirepass "p a\\"ss"', ["requirepass", 'p a"ss']),
    ("requirepass 'it\\'s'", ["requirepass", "it's"]),
    ('save ""', ["save", ""]),
    ('user app on ">x y" ~* +@all', ["user", "app", "on", ">x y", "~*", "+@all"]),
    ('logfile "\\x41\\n"', ["logfile", "A\n"]),
    ("bind   127.0.0.1    -::1", ["bind", "127.0.0.1", "-::1"]),
])
def test_split_args_like_redis(line: str, args: list[str]) -> None:
    assert split_args(line) == args


@pytest.mark.parametrize("line", ['requirepass "abc', "requirepass 'abc", 'requirepass "abc"def'])
def test_split_args_rejects_what_redis_rejects(line: str) -> None:
    with pytest.raises(ValueError):
        split_args(line)


def test_acl_rules_in_order() -> None:
    app = parse_user("app", ["on", ">pw", "~*", "+@all", "-@dangerous"])
    assert app.dangerous() == [] and not app.all_commands
    assert parse_user("a", ["on", "nopass", "+@read", "+keys"]).dangerous() == ["keys"]
    assert parse_user("a", ["on", "+@admin"]).may_run("config|set")
    assert not parse_user("a", ["on", "+config|get"]).may_run("config|set")
    assert parse_user("a", ["on", "+config"]).may_run("config|set")
    assert not parse_user("a", ["on", "allcommands", "-flushall"]).may_run("flushall")
    assert parse_user("a", ["on", "-@all", "+@write"]).may_run("flushall")
    reset = parse_user("a", ["on", ">x", "+@all", "reset"])
    assert not reset.enabled and not reset.digests and reset.dangerous() == []
    assert parse_user("default", ["on", "nopass", "~*", "&*", "+@all"]).all_commands


def test_entropy() -> None:
    assert entropy_bits("a" * 40) == 0
    assert entropy_bits("ab" * 20) == pytest.approx(40)
    assert entropy_bits("kq3Vw9ZpL2xR7tNb4YcH8mJf6DsG1aUe5WoQ0iTzXyK") > 150


def test_include_loop_is_an_input_error(tmp_path: Path) -> None:
    conf = tmp_path / "a.conf"
    conf.write_text(f"port 6379\ninclude {conf}\n")
    with pytest.raises(ConfigFileError, match="include"):
        load_config(conf)


def test_unreadable_file_says_so(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    conf = tmp_path / "secret.conf"
    conf.write_text("port 6379\n")
    conf.chmod(0)
    with pytest.raises(ConfigFileError, match="permission denied"):
        load_config(conf)


def _cert(directory: Path, days: int) -> Path:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "audit")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=400))
            .not_valid_after(now + datetime.timedelta(days=days)).sign(key, hashes.SHA256()))
    path = directory / f"cert-{days}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.mark.parametrize(("days", "reported"), [(10, True), (-3, True), (90, False)])
def test_certificate_expiry(tmp_path: Path, days: int, reported: bool) -> None:
    cert = _cert(tmp_path, days)
    conf = tmp_path / "tls.conf"
    conf.write_text(f"bind 127.0.0.1\nport 0\ntls-port 6379\ntls-replication yes\ntls-cert-file {cert.name}\n"
                    f"tls-key-file k.pem\nmaxmemory 1gb\n")
    conf.chmod(0o600)
    found = [f for f in audit_files([conf]).findings if f.check == "RA018"]
    assert bool(found) == reported
    if days < 0:
        assert "expired" in found[0].message


def test_host_facts_are_read_from_proc() -> None:
    facts = read_host()
    assert facts.overcommit_memory == int(Path("/proc/sys/vm/overcommit_memory").read_text())
    assert facts.somaxconn == int(Path("/proc/sys/net/core/somaxconn").read_text())


def test_listening_ports_of_a_process() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        ports = listening_ports(os.getpid())
        assert ports is not None and port in ports
    after = listening_ports(os.getpid())
    assert after is not None and port not in after


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg compares Debian versions")
def test_cve_table_against_dpkg_versions() -> None:
    release, fixes = cve_table()
    assert release == "bookworm" and len(fixes) >= 20
    assert all(f.cve.startswith("CVE-") for f in fixes)
    versions = [f.fixed for f in fixes]
    assert all(not version_older(b, a) for a, b in zip(versions, versions[1:], strict=False)), "in version order"
    assert version_older("5:7.0.15-1~deb12u9", "5:7.0.15-1~deb12u10")  # not a string comparison
    old = fixed_after("5:7.0.15-1~deb12u5")
    assert {"CVE-2025-49844", "CVE-2026-92925"} <= {f.cve for f in old}
    assert "CVE-2025-32023" not in {f.cve for f in old}
    assert fixed_after("5:7.0.15-1~deb12u10") == []


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg compares Debian versions")
def test_host_checks_on_given_facts() -> None:
    from redisops.security.audit import Kind, Target, run_checks
    from redisops.security.audit.model import HostFacts

    risky = Target("host h", Kind.HOST, Layer.LIVE, host=HostFacts(0, "always", 128, "5:7.0.15-1~deb12u8"),
                   info={"tcp_backlog": "511"})
    findings = {f.check: f for f in run_checks([risky])}
    assert set(findings) == {"RA032", "RA033", "RA034", "RA036"}
    assert "CVE-2026-66373" in findings["RA036"].message and "5:7.0.15-1~deb12u10" in findings["RA036"].message
    assert "CVE-2026-25243" not in findings["RA036"].message  # fixed in deb12u8, installed
    tuned = Target("host h", Kind.HOST, Layer.LIVE, host=HostFacts(1, "madvise", 4096, "5:7.0.15-1~deb12u10"))
    assert run_checks([tuned]) == []


@pytest.mark.parametrize(("role", "policy", "maxmemory", "found"), [
    (None, "noeviction", "268435456", {"RA023"}),  # a file or a seed: no role known, a store assumed
    ("store", "noeviction", "268435456", set()),
    ("cache", "noeviction", "268435456", {"RA038"}),
    ("cache", "allkeys-lfu", "0", {"RA038"}),  # a cache that grows until the kernel kills it
    ("cache", "allkeys-lfu", "268435456", set()),
])
def test_eviction_follows_the_specs_role(role: str | None, policy: str, maxmemory: str, found: set[str]) -> None:
    from redisops.security.audit import Kind, Target, run_checks
    from redisops.security.audit.model import Directive

    target = Target("node", Kind.REDIS, Layer.LIVE, (Directive("maxmemory", (maxmemory,)),
                                                      Directive("maxmemory-policy", (policy,))), data_role=role)
    checks = [c for c in all_checks() if c.id in ("RA023", "RA038")]
    assert {f.check for f in run_checks([target], checks)} == found

"""``redisops audit --live`` against real nodes started by the harness, misconfigured on purpose: each planted
misconfiguration is reported on its node (and only there), what redisops deploys today is reported as such, a
restart keeps the audit working, and a user without CONFIG permission is told which permission is missing."""

from __future__ import annotations

import datetime
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cli_json
import pytest

from redisops.security.audit import Report, Severity, audit_live, nodes_from_spec
from redisops.testing import Topology

REDISOPS = [sys.executable, "-m", "redisops"]
DATA_NODES = ("mymaster-0", "mymaster-1", "mymaster-2")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REDISOPS, "audit", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with Topology.start(tmp_path_factory.mktemp("audit"), cluster=False) as topology:
        yield topology


def audit(topo: Topology) -> Report:
    report = audit_live(nodes_from_spec(topo.spec, topo.secrets))
    assert not report.errors, report.errors
    return report


def found(report: Report, node: str) -> set[str]:
    return {f.check for f in report.findings if f.target.startswith(f"{node} ")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_what_redisops_deploys_today(topo: Topology) -> None:
    """A hardened deployment (ACL users per role, the default user off) has no finding at medium or above on any
    node: the shared +@all requirepass (RA002) reused as masterauth (RA006) of the old baseline are gone."""
    report = audit(topo)
    assert len([t for t in report.targets if t.kind.value != "host"]) == 6
    for node in DATA_NODES:
        assert not found(report, node) & {"RA001", "RA002", "RA003", "RA004", "RA006", "RA009", "RA010", "RA018",
                                          "RA022", "RA035"}
    nodes_medium = [f.to_dict() for f in report.findings if f.severity.rank >= Severity.MEDIUM.rank
                    and not f.target.startswith("host ")]  # the host's own settings are not what redisops deploys
    assert nodes_medium == []
    assert report.exit_code == 0  # nothing at high or above: --fail-on high passes


def test_planted_misconfigurations_are_each_reported_on_their_node(topo: Topology, tmp_path: Path) -> None:
    replica = topo.client("mymaster-1")
    replica.execute_command("ACL", "SETUSER", "default", "on", "nopass")  # a client naming no user gets in
    replica.execute_command("ACL", "SETUSER", "shop", "on", ">foobared", "~*", "+@all")
    replica.config_set("maxmemory", 0)
    replica.config_set("masterauth", "weakpass1")  # CONFIG GET shows it in plaintext: its length is checked
    tls_port, _, _ = _tls_on_mymaster_2(topo, tmp_path)
    auth = topo.deployment.runtime.node_dir(topo.node("mymaster-0")) / "auth.conf"  # user digests, masterauth
    auth.chmod(0o644)

    report = audit(topo)

    assert found(report, "mymaster-1") >= {"RA001", "RA003", "RA004", "RA009", "RA022"}
    short = next(f for f in report.findings if f.check == "RA004")
    assert short.message == "masterauth has 9 characters"
    shop = next(f for f in report.findings if f.check == "RA009")
    assert "user shop may run FLUSHALL" in shop.message and "foobared" not in shop.message
    tls = found(report, "mymaster-2")
    assert tls >= {"RA018", "RA035", "RA015", "RA030"}
    ports = next(f for f in report.findings if f.check == "RA035")
    assert ports.target.startswith("mymaster-2 ") and ports.message.endswith(f"port {tls_port}")
    assert not found(report, "mymaster-0") & {"RA001", "RA003", "RA009", "RA018", "RA022", "RA035"}
    readable = [f for f in report.findings if f.check == "RA026"]
    assert [(f.target.split()[0], f.file) for f in readable] == [("mymaster-0", str(auth))]
    assert report.exit_code == 1  # RA001 critical, RA009 / RA018 high


def test_cli_live_json_and_fail_on(topo: Topology) -> None:
    done = cli("--live", "-f", str(topo.spec_file), "--json", "--fail-on", "critical")
    assert done.returncode in (0, 1), done.stderr
    data = cli_json.data(done.stdout, "audit")
    assert data["layer"] == "live" and not data["errors"]
    assert data["exit_code"] == done.returncode
    blocking = [f for f in data["findings"] if f["severity"] == "critical"]
    assert done.returncode == (1 if blocking else 0)


def _tls_on_mymaster_2(topo: Topology, directory: Path) -> tuple[int, Path, Path]:
    """A tls-port opened at runtime on mymaster-2, its certificate (its own CA) expiring in 10 days."""
    node = topo.client("mymaster-2")
    current = node.config_get("tls-*")
    if current["tls-port"] != "0":
        return int(current["tls-port"]), Path(current["tls-cert-file"]), Path(current["tls-key-file"])
    cert, key = _certificate(directory, days=10)
    port = free_port()
    node.execute_command("CONFIG", "SET", "tls-cert-file", str(cert), "tls-key-file", str(key),
                         "tls-ca-cert-file", str(cert), "tls-port", str(port))
    return port, cert, key


def test_tls_seed(topo: Topology, tmp_path: Path) -> None:
    """--seed over TLS: the server verified against --cacert, a client certificate for tls-auth-clients."""
    port, cert, key = _tls_on_mymaster_2(topo, tmp_path)
    env = {"RP": topo.secrets.admin_password}
    tls = ["--tls", "--cacert", str(cert), "--cert", str(cert), "--key", str(key)]
    done = cli("--seed", f"127.0.0.1:{port}", *tls, "--user", "admin", "--password-env", "RP", "--json", env=env)
    assert done.returncode in (0, 1), done.stderr
    data = cli_json.data(done.stdout, "audit")
    assert not data["errors"] and data["targets"][0]["name"] == f"127.0.0.1:{port}"
    assert {"RA018", "RA030"} <= {f["id"] for f in data["findings"]}
    plain = cli("--seed", f"127.0.0.1:{port}", "--user", "admin", "--password-env", "RP", env=env)  # TLS port, plaintext client
    assert plain.returncode == 3 and "no node could be audited" in plain.stderr


def test_seeds_with_their_own_passwords(topo: Topology) -> None:
    """--seed nodes of unknown kind: a sentinel refusing the data password is tried with --sentinel-password-env."""
    node, sentinel = topo.node("mymaster-0"), topo.node("mymaster-sentinel-0")
    done = cli("--seed", str(node.address), "--seed", str(sentinel.address), "--user", "admin", "--password-env", "RP",
               "--sentinel-password-env", "SP", "--json",
               env={"RP": topo.secrets.admin_password, "SP": topo.secrets.sentinel_password})
    assert done.returncode in (0, 1), done.stderr
    data = cli_json.data(done.stdout, "audit")
    assert not data["errors"]
    assert sorted(t["kind"] for t in data["targets"]) == ["host", "redis", "sentinel"]
    on_sentinel = {f["id"] for f in data["findings"] if f["target"] == str(sentinel.address)}
    assert not on_sentinel & {"RA019", "RA021", "RA029"}  # read from its own sentinel.conf and auth.conf


def test_user_without_config_permission_is_told_which(topo: Topology) -> None:
    node = topo.node("mymaster-0")
    topo.client("mymaster-0").execute_command("ACL", "SETUSER", "auditor", "on", ">auditor-pass-0123456789",
                                              "+info", "+acl|list", "+ping")
    done = cli("--seed", str(node.address), "--user", "auditor", "--password-env", "AUDIT_PW", "--json",
               env={"AUDIT_PW": "auditor-pass-0123456789"})
    error = cli_json.error(done, "audit")
    assert done.returncode == 2
    assert "+config|get" in error["message"] and "ACL SETUSER auditor" in error["message"]
    plain = cli("--seed", str(node.address), "--user", "auditor", "--password-env", "AUDIT_PW",
                env={"AUDIT_PW": "auditor-pass-0123456789"})
    assert plain.returncode == 2 and len(plain.stderr.strip().splitlines()) == 1, plain.stderr
    assert "Traceback" not in plain.stderr


def test_restarted_node_with_debug_command_enabled(topo: Topology) -> None:
    """A setting only a restart can change (enable-debug-command is immutable): down, edit, up, audit again."""
    topo.stop()
    conf = topo.deployment.runtime.conf_path(topo.node("mymaster-2"))
    conf.write_text(conf.read_text() + "\nenable-debug-command yes\n")
    topo.up()
    report = audit(topo)
    assert "RA010" in found(report, "mymaster-2")
    assert not any(f.check == "RA010" for f in report.findings if not f.target.startswith("mymaster-2 "))


def _certificate(directory: Path, days: int) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 that expires in ``days`` days (the cryptography library)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "redisops-audit-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "node.crt", directory / "node.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file

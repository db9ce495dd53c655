"""`tls.own`: certificates the user issued with the openssl CLI, not by redisops.  A certificate that cannot serve
is refused by `up` with one line before any node starts; good ones run the deployment TLS-only (redisops and a
client of the user's CA log in), and after a renewal `tls rotate` loads the new certificate into every node."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cli_json
import pytest
import yaml

from redisops.lifecycle import Deployment
from redisops.testing import Topology

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI to play the user")]

REDISOPS = [sys.executable, "-m", "redisops"]


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def _issue(pki: Path, name: str, usage: str, san: str | None) -> None:
    """A certificate and key signed by the user's CA (openssl req + x509, as a user's own PKI would)."""
    ext = pki / f"{name}.ext"
    ext.write_text(f"extendedKeyUsage = {usage}\n" + (f"subjectAltName = {san}\n" if san else ""))
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=pki)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "90", "-out", f"{name}.crt", "-extfile", ext.name, cwd=pki)


def _pki(directory: Path) -> Path:
    pki = directory / "pki"
    pki.mkdir()
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
             "-out", "ca.crt", "-days", "365", "-subj", "/CN=users own CA", cwd=pki)
    _issue(pki, "node", "serverAuth, clientAuth", "IP:127.0.0.1")
    _issue(pki, "client", "clientAuth", None)
    _issue(pki, "serveronly", "serverAuth", "IP:127.0.0.1")
    return pki


def _spec(directory: Path, cert: str) -> Path:
    spec_file = Topology.write_spec(directory, cluster=False, down_after_ms=1000)
    data = yaml.safe_load(spec_file.read_text())
    data["tls"] = {"enabled": True, "own": {"ca_file": "pki/ca.crt", "cert_file": f"pki/{cert}.crt",
                                            "key_file": f"pki/{cert}.key", "client_cert_file": "pki/client.crt",
                                            "client_key_file": "pki/client.key"}}
    spec_file.write_text(yaml.safe_dump(data, sort_keys=False))
    return spec_file


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    directory = tmp_path_factory.mktemp("own")
    _pki(directory)
    topology = Topology(Deployment.open(_spec(directory, "node")))
    with topology:
        topology.up()
        yield topology


def _peer_certificate(port: int, pki: Path) -> bytes:
    """The certificate a node presents, to a client holding the user's CA and client certificate."""
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def _der(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())


def test_a_certificate_without_client_auth_is_refused_before_any_node_starts(tmp_path: Path) -> None:
    _pki(tmp_path)
    spec_file = _spec(tmp_path, "serveronly")
    done = subprocess.run([*REDISOPS, "up", "-f", str(spec_file)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "serveronly.crt lacks extendedKeyUsage clientAuth" in lines[0]
    assert not list((tmp_path / ".redisops").rglob("*.pid"))
    assert not (tmp_path / ".redisops" / "test" / "tls" / "nodes").exists()  # nothing copied


def test_the_deployment_runs_on_the_users_certificates(topo: Topology) -> None:
    pki = topo.spec_file.parent / "pki"
    port = topo.node("mymaster-0").address.port
    assert _peer_certificate(port, pki) == _der(pki / "node.crt")
    app = subprocess.run(["redis-cli", "--tls", "--cacert", str(pki / "ca.crt"), "--cert", str(pki / "client.crt"),
                          "--key", str(pki / "client.key"), "--user", "app", "-p", str(port), "ping"],
                         env={"REDISCLI_AUTH": topo.secrets.app_password, "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=10)
    assert app.stdout.strip() == "PONG", app.stderr
    status = subprocess.run([*REDISOPS, "status", "--json", "-f", str(topo.spec_file)], capture_output=True,
                            text=True, timeout=60)
    assert cli_json.data(status.stdout, "status")["health"] == "ok", status.stdout
    tls = subprocess.run([*REDISOPS, "tls", "status", "--json", "-f", str(topo.spec_file)], capture_output=True,
                         text=True, timeout=60)
    assert tls.returncode == 0, tls.stdout + tls.stderr
    found = cli_json.data(tls.stdout, "tls.status")
    assert {c["name"] for c in found["certificates"]} == {n.name for n in topo.plan.nodes} | {"redisops"}


def test_rotate_loads_a_renewed_certificate_into_every_node(topo: Topology) -> None:
    pki = topo.spec_file.parent / "pki"
    before = _der(pki / "node.crt")
    _issue(pki, "node", "serverAuth, clientAuth", "IP:127.0.0.1")  # renewed by the user's CA
    renewed = _der(pki / "node.crt")
    assert renewed != before
    done = subprocess.run([*REDISOPS, "tls", "rotate", "--json", "-f", str(topo.spec_file)], capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    report = cli_json.data(done.stdout, "tls.rotate")
    assert report["steps"] == ["reloaded"]
    assert sorted(report["reloaded"]) == ["mymaster-0", "mymaster-1", "mymaster-2"]
    assert len(report["restarted"]) == 3
    for node in topo.plan.nodes:
        assert _peer_certificate(node.address.port, pki) == renewed, node.name
    refused = subprocess.run([*REDISOPS, "tls", "rotate", "--new-ca", "-f", str(topo.spec_file)],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "your CA is yours to rotate" in refused.stderr

"""The TLS material redisops generates, used by real redis-server / redis-sentinel processes.

Every node runs with ``port 0`` (no plaintext port), ``tls-auth-clients yes`` and ``tls-replication yes``:
replication, a sentinel's links and clients all go through certificates from
``redisops.security.tls``, and a CA rotation is rolled node by node while replication stays up.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from redisops.runtime.processes import listening_ports
from redisops.security.tls import (
    InvalidMaterialError,
    Material,
    NodeIdentity,
    RotationStep,
    check_user_material,
    ensure_material,
    finish_rotation,
    rotate,
)
from redisops.testing import allocate_ports, assert_eventually

LOCAL = ("127.0.0.1",)
NO_RETRY = Retry(NoBackoff(), 0)  # a refused handshake is the answer, not something to retry


@dataclass
class Node:
    name: str
    port: int
    conf: Path
    binary: str = "redis-server"
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, str(self.conf)], cwd=self.conf.parent,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.conf.parent / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""


@dataclass
class Nodes:
    """Processes started by one test, all stopped when it ends (also when it fails)."""

    root: Path
    tls: Path
    base: int = field(default_factory=allocate_ports)
    started: list[Node] = field(default_factory=list)

    def conf_lines(self, name: str, port: int) -> list[str]:
        directory = self.root / name
        directory.mkdir(exist_ok=True)
        return ["port 0", f"tls-port {port}", "bind 127.0.0.1",
                f"tls-cert-file {self.tls / 'nodes' / f'{name}.crt'}",
                f"tls-key-file {self.tls / 'nodes' / f'{name}.key'}",
                f"tls-ca-cert-file {self.tls / 'ca-bundle.crt'}",
                "tls-auth-clients yes", "tls-replication yes",
                f"dir {directory}", f"logfile {directory / 'redis.log'}", "daemonize no"]

    def server(self, name: str, offset: int, replica_of: Node | None = None) -> Node:
        lines = self.conf_lines(name, self.base + offset) + ['save ""', "appendonly no",
                                                             "repl-diskless-sync-delay 0"]  # sync at once
        if replica_of is not None:
            lines.append(f"replicaof 127.0.0.1 {replica_of.port}")
        return self._start(Node(name, self.base + offset, self.root / name / "redis.conf"), lines)

    def sentinel(self, name: str, offset: int, master: Node, quorum: int = 1) -> Node:
        lines = self.conf_lines(name, self.base + offset) + [
            f"sentinel monitor m 127.0.0.1 {master.port} {quorum}", "sentinel down-after-milliseconds m 1000",
            "sentinel failover-timeout m 10000"]
        return self._start(Node(name, self.base + offset, self.root / name / "sentinel.conf", "redis-sentinel"),
                           lines)

    def _start(self, node: Node, lines: list[str]) -> Node:
        node.conf.write_text("\n".join(lines) + "\n")
        self.started.append(node)
        node.start()
        return node

    def stop_all(self) -> None:
        for node in self.started:
            node.stop()


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    group = Nodes(tmp_path, tmp_path / "tls")
    try:
        yield group
    finally:
        group.stop_all()


def material(group: Nodes, names: tuple[str, ...]) -> Material:
    return ensure_material(group.tls, "tlstest", [NodeIdentity(n, LOCAL, (n,)) for n in names])


def connect(port: int, ca: Path, cert: Path | None = None, key: Path | None = None) -> redis.Redis:
    """A client over TLS that verifies the server's certificate *and* its IP against the SANs."""
    return redis.Redis("127.0.0.1", port, ssl=True, ssl_ca_certs=str(ca),
                       ssl_certfile=str(cert) if cert else None, ssl_keyfile=str(key) if key else None,
                       ssl_check_hostname=True, ssl_cert_reqs="required", socket_timeout=5,
                       socket_connect_timeout=5, decode_responses=True, retry=NO_RETRY)


def client(group: Nodes, port: int, name: str = "redisops") -> redis.Redis:
    tls = group.tls
    return connect(port, tls / "ca-bundle.crt", tls / "clients" / f"{name}.crt", tls / "clients" / f"{name}.key")


def ping(c: redis.Redis) -> None:
    try:
        assert c.ping()
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
        raise AssertionError(f"no answer: {exc}") from exc


def link_up(group: Nodes, replica: Node, master: Node) -> None:
    def check() -> None:
        try:
            info = client(group, replica.port).info("replication")
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
            raise AssertionError(f"{replica.name}: {exc}") from exc
        assert info.get("master_port") == master.port and info.get("master_link_status") == "up", \
            f"{replica.name}: {info}; log tail: {replica.log()[-600:]}"
    assert_eventually(check, within=20, interval=0.1)


def refused(c: redis.Redis) -> str:
    with pytest.raises((redis.ConnectionError, redis.TimeoutError)) as caught:
        c.ping()
    return str(caught.value)


def test_replication_and_clients_over_tls(nodes: Nodes, tmp_path: Path) -> None:
    """Replication over TLS with generated material; no plaintext port; only clients with a certificate of the CA."""
    done = material(nodes, ("m", "r"))
    master = nodes.server("m", 0)
    replica = nodes.server("r", 1, replica_of=master)
    link_up(nodes, replica, master)
    app = client(nodes, master.port)
    app.set("k", "over tls")
    assert_eventually(lambda: _equal(client(nodes, replica.port).get("k"), "over tls"))

    for node in (master, replica):  # only the TLS port listens: nothing answers in plaintext anywhere
        assert node.proc is not None
        assert listening_ports(node.proc.pid) == {node.port}
    plain = redis.Redis("127.0.0.1", master.port, socket_timeout=5, socket_connect_timeout=5, retry=NO_RETRY)
    refused(plain)
    no_cert = connect(master.port, done.ca.bundle)
    refused(no_cert)
    other = ensure_material(tmp_path / "other-ca", "other", [], clients=("intruder",))
    intruder = connect(master.port, done.ca.bundle, other.clients["intruder"].cert, other.clients["intruder"].key)
    refused(intruder)
    # and a client that trusts another CA does not accept the server's certificate
    refused(connect(master.port, other.ca.bundle, other.clients["intruder"].cert, other.clients["intruder"].key))
    ping(app)


def _equal(value: object, expected: object) -> None:
    assert value == expected, value


@pytest.mark.slow
def test_sentinel_over_tls_fails_over(nodes: Nodes) -> None:
    """A sentinel with only a TLS port monitors a TLS master and carries out SENTINEL FAILOVER over TLS."""
    material(nodes, ("m", "r", "s"))
    master = nodes.server("m", 0)
    replica = nodes.server("r", 1, replica_of=master)
    link_up(nodes, replica, master)
    sentinel = nodes.sentinel("s", 2, master)
    watcher = client(nodes, sentinel.port)
    assert_eventually(lambda: ping(watcher), within=10)
    assert sentinel.proc is not None and listening_ports(sentinel.proc.pid) == {sentinel.port}

    def replica_known() -> None:
        replicas = watcher.sentinel_slaves("m")
        flags = [(r["port"], r["flags"]) for r in replicas]
        assert flags == [(replica.port, "slave")], f"{flags}; sentinel log: {sentinel.log()[-600:]}"
    assert_eventually(replica_known, within=15, interval=0.2)

    def failover() -> None:
        try:
            assert watcher.execute_command("SENTINEL", "FAILOVER", "m")
        except redis.ResponseError as exc:  # NOGOODSLAVE until the sentinel has a fresh INFO from the replica
            raise AssertionError(str(exc)) from exc
    assert_eventually(failover, within=15, interval=0.5)

    def switched() -> None:
        assert watcher.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "m") == ["127.0.0.1", str(replica.port)]
        assert client(nodes, replica.port).info("replication")["role"] == "master"
    assert_eventually(switched, within=20, interval=0.2)
    link_up(nodes, master, replica)  # the sentinel turned the old master into a replica, over TLS too
    assert "+switch-master" in sentinel.log()


@pytest.mark.slow
def test_ca_rotation_rolls_without_losing_replication(nodes: Nodes, tmp_path: Path) -> None:
    """A new CA rolled in three steps, one node restarted at a time: replication comes back after every restart."""
    names = ("m", "r")
    identities = [NodeIdentity(n, LOCAL, (n,)) for n in names]
    material(nodes, names)
    master = nodes.server("m", 0)
    replica = nodes.server("r", 1, replica_of=master)
    link_up(nodes, replica, master)
    old_client = tmp_path / "old-client"
    shutil.copytree(nodes.tls / "clients", old_client)

    def roll() -> None:
        """Restart the replica, then the master; after each, replication over TLS is back."""
        for node in (replica, master):
            node.restart()
            assert_eventually(lambda: ping(client(nodes, node.port)), within=10)  # noqa: B023 - called at once
            link_up(nodes, replica, master)

    step = rotate(nodes.tls, "tlstest", identities, new_ca=True)
    assert step.step is RotationStep.TRUSTED and not step.nodes
    roll()

    step = rotate(nodes.tls, "tlstest", identities, new_ca=True)
    assert step.step is RotationStep.ISSUED
    assert {c.reason for c in step.nodes.values()} == {"signed by another CA generation"}
    replica.restart()  # the replica presents the new CA's certificate; the master still has the old one
    link_up(nodes, replica, master)
    ping(client(nodes, master.port))  # the new client certificate, accepted by a master not yet restarted
    master.restart()
    link_up(nodes, replica, master)

    finish_rotation(nodes.tls, "tlstest")
    roll()
    ping(client(nodes, master.port))
    # the old CA is trusted nowhere now: a client certificate it signed is refused
    refused(connect(master.port, nodes.tls / "ca-bundle.crt", old_client / "redisops.crt", old_client / "redisops.key"))


@pytest.mark.slow
def test_new_certificates_before_the_trust_step_break_replication(nodes: Nodes, tmp_path: Path) -> None:
    """Why rotation has a trust step: a master that does not yet trust the new CA refuses its replica."""
    names = ("m", "r")
    material(nodes, names)
    master = nodes.server("m", 0)
    replica = nodes.server("r", 1, replica_of=master)
    link_up(nodes, replica, master)
    # new CA and certificates at once, the bundle trusting both (a two-step rotation), then the replica restarted
    rotate(nodes.tls, "tlstest", [NodeIdentity(n, LOCAL, (n,)) for n in names], new_ca=True)
    rotate(nodes.tls, "tlstest", [NodeIdentity(n, LOCAL, (n,)) for n in names], new_ca=True)
    replica.restart()

    def master_refuses() -> None:  # the master still trusts the old CA only (it read its bundle at start)
        assert "certificate verify failed" in master.log(), master.log()[-400:]
        assert "unknown ca" in replica.log(), replica.log()[-400:]
    assert_eventually(master_refuses, within=15, interval=0.2)
    info = client(nodes, replica.port).info("replication")
    assert info["master_link_status"] == "down"


@pytest.mark.slow
def test_three_sentinels_over_tls_fail_over_a_killed_master(nodes: Nodes) -> None:
    """Sentinels find each other over TLS (hello messages announce the TLS port) and agree on a failover after
    the master is killed -9; the old master, restarted, rejoins as a replica; no process listens in plaintext."""
    material(nodes, ("m", "r", "s0", "s1", "s2"))
    master = nodes.server("m", 0)
    replica = nodes.server("r", 1, replica_of=master)
    link_up(nodes, replica, master)
    sentinels = [nodes.sentinel(f"s{i}", 2 + i, master, quorum=2) for i in range(3)]
    views = [client(nodes, s.port) for s in sentinels]

    def peers_known() -> None:
        for view, s in zip(views, sentinels, strict=True):
            try:
                state = view.sentinel_master("m")
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                raise AssertionError(f"{s.name}: {exc}") from exc
            assert (state["num-other-sentinels"], state["num-slaves"]) == (2, 1), f"{s.name}: {state}"
    assert_eventually(peers_known, within=20, interval=0.2)
    for node in [master, replica, *sentinels]:
        assert node.proc is not None and listening_ports(node.proc.pid) == {node.port}, node.name

    master.stop()  # SIGKILL

    def promoted() -> None:
        for view in views:
            assert view.sentinel_get_master_addr_by_name("m") == ("127.0.0.1", replica.port)
        assert client(nodes, replica.port).info("replication")["role"] == "master"
    assert_eventually(promoted, within=30, interval=0.2)
    master.start()
    link_up(nodes, master, replica)


def test_a_running_node_takes_new_files_on_config_set(nodes: Nodes) -> None:
    """Data nodes need no restart to take rotated files: CONFIG SET of a tls-* setting, even to the same path,
    makes Redis reload its certificate, key and bundle (connections already open stay up)."""
    material(nodes, ("m",))
    master = nodes.server("m", 0)
    admin = client(nodes, master.port)
    assert_eventually(lambda: ping(admin), within=10)
    identities = [NodeIdentity("m", LOCAL, ("m",))]
    rotate(nodes.tls, "tlstest", identities, new_ca=True)
    rotate(nodes.tls, "tlstest", identities, new_ca=True)
    finish_rotation(nodes.tls, "tlstest")  # only the new CA is trusted by clients, the node still serves the old
    refused(client(nodes, master.port))
    assert admin.config_set("tls-ca-cert-file", str(nodes.tls / "ca-bundle.crt"))
    ping(client(nodes, master.port))
    ping(admin)


EXPORTER = "/usr/bin/prometheus-redis-exporter"


@pytest.mark.skipif(not Path(EXPORTER).exists(), reason="prometheus-redis-exporter not installed (make apt)")
def test_exporter_and_redis_cli_connect_with_the_client_certificate(nodes: Nodes) -> None:
    """Other TLS stacks take the material too: redis_exporter (Go's crypto/tls, which checks the server's IP
    against its SANs) scrapes a node and a sentinel over rediss:// with the client certificate; redis-cli as well."""
    done = material(nodes, ("m", "s"))
    master = nodes.server("m", 0)
    sentinel = nodes.sentinel("s", 1, master)
    for node in (master, sentinel):
        assert_eventually(lambda: ping(client(nodes, node.port)), within=10)  # noqa: B023 - called at once
    mine = done.clients["redisops"]
    cli = subprocess.run(["redis-cli", "--tls", "--cacert", str(mine.ca), "--cert", str(mine.cert), "--key",
                          str(mine.key), "-h", "127.0.0.1", "-p", str(master.port), "ping"],
                         capture_output=True, text=True, timeout=10)
    assert cli.stdout.strip() == "PONG", cli.stderr

    web = nodes.base + 10  # in the block allocate_ports() found free, unused by the nodes
    exporter = subprocess.Popen([EXPORTER, f"--redis.addr=rediss://127.0.0.1:{master.port}",
                                 f"--tls-client-cert-file={mine.cert}", f"--tls-client-key-file={mine.key}",
                                 f"--tls-ca-cert-file={mine.ca}", f"--web.listen-address=127.0.0.1:{web}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def scraped(path: str, metric: str) -> None:
            try:
                text = httpx.get(f"http://127.0.0.1:{web}{path}", timeout=10).text
            except httpx.HTTPError as exc:
                raise AssertionError(str(exc)) from exc
            assert metric in text.splitlines(), [line for line in text.splitlines() if "up" in line][:5]
        assert_eventually(lambda: scraped("/metrics", "redis_up 1"), within=15, interval=0.2)
        assert_eventually(lambda: scraped(f"/scrape?target=rediss://127.0.0.1:{sentinel.port}",
                                          "redis_sentinel_masters 1"), within=15, interval=0.2)
    finally:
        exporter.kill()
        exporter.wait(timeout=10)


def test_check_user_material_predicts_what_redis_refuses(nodes: Nodes) -> None:
    """A user's node certificate with serverAuth only: check_user_material rejects it, and Redis agrees, as the
    master refuses that replica's handshake (Redis presents the node's certificate as a client)."""
    from redisops.runtime.tls_layout import Layout
    from redisops.security.tls import issue
    from redisops.security.tls.material import load_ca
    from redisops.security.tls.pem import write_certs, write_key

    material(nodes, ("m", "r"))
    ca_cert, ca_key = load_ca(Layout(nodes.tls))
    cert, key = issue.new_leaf(ca_cert, ca_key, "r", issue.Usage(server=True, client=False),
                               datetime.datetime.now(datetime.timezone.utc), ips=LOCAL)
    pair = Layout(nodes.tls).node("r")
    write_key(pair.key, key)
    write_certs(pair.cert, [cert])
    with pytest.raises(InvalidMaterialError, match="lacks extendedKeyUsage clientAuth"):
        check_user_material(nodes.tls / "ca-bundle.crt", pair.cert, pair.key, "127.0.0.1")

    master = nodes.server("m", 0)
    replica = nodes.server("r", 1, replica_of=master)
    assert_eventually(lambda: ping(client(nodes, replica.port)), within=10)  # it serves: only its link out fails

    def refused_by_master() -> None:  # signed by the CA both trust: the purpose is all that is wrong with it
        assert "certificate verify failed" in master.log(), master.log()[-400:]
    assert_eventually(refused_by_master, within=15, interval=0.2)
    assert client(nodes, replica.port).info("replication")["master_link_status"] == "down"

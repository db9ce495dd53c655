"""The embedded default runtime: real redis-server / redis-sentinel processes.

Layout: ``<state>/<node>/`` holds ``redis.conf`` or ``sentinel.conf``,
``auth.conf`` (mode 0600), ``node.pid``, the log, and the node's data
(``dump.rdb``, ``appendonlydir``, ``nodes.conf``).  Configs are written only
when a node is created: afterwards Redis and Sentinel own them (Sentinel
records failovers there, Redis records replication changes), so restarting a
node never rolls it back to the spec's initial roles.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from redisops.address import is_loopback
from redisops.clock import Clock, SystemClock
from redisops.errors import MissingBinaryError, PortInUseError, StartupError, StateDirError, UsageError
from redisops.runtime.acl import EXPORTER_KEY, OWNED, acl_auth_lines, legacy_auth_lines, local_values
from redisops.runtime.conf import Placement, conf_directive, render_conf
from redisops.runtime.plan import NodeKind, NodePlan, Plan
from redisops.runtime.processes import (
    is_alive,
    is_listening,
    port_is_free,
    port_owner,
    process_cwd,
    send_signal,
)
from redisops.runtime.servers import data_server, extra_rules, with_extra_rules
from redisops.runtime.tls import conf_runs_tls, local_tls, switch_conf, tls_dir
from redisops.spec.secrets import Secrets, write_private

__all__ = ["Binaries", "LocalRuntime", "Started", "find_binaries"]


@dataclass(frozen=True)
class Binaries:
    server: str
    sentinel: list[str]  # argv prefix: ["redis-sentinel"] or ["redis-server", "--sentinel"] style


def find_binaries(need_sentinel: bool = True) -> Binaries:
    """Locate Debian's redis binaries, or say which apt command installs them.

    ``$REDISOPS_REDIS_SERVER`` names another server binary for the data nodes
    (a Valkey build, say: it reads the same configs); sentinels stay Debian's.
    """
    server = os.environ.get("REDISOPS_REDIS_SERVER") or shutil.which("redis-server")
    if server is None:
        raise MissingBinaryError("redis-server", "redis-server")
    if not os.access(server, os.X_OK):
        raise UsageError(f"REDISOPS_REDIS_SERVER={server} is not an executable file",
                         hint="point it at a redis-server or valkey-server binary, or unset it")
    sentinel = shutil.which("redis-sentinel")
    if sentinel is None and need_sentinel:
        raise MissingBinaryError("redis-sentinel", "redis-sentinel")
    return Binaries(server, [sentinel or server])


@dataclass(frozen=True)
class Started:
    node: NodePlan
    pid: int


class LocalRuntime:
    """Start, find and stop the nodes of one plan under ``state_dir``."""

    def __init__(self, plan: Plan, state_dir: Path, secrets: Secrets, clock: Clock | None = None) -> None:
        self.plan = plan
        self.state_dir = state_dir
        self.secrets = secrets
        self.clock = clock or SystemClock()

    # --- where things are ---------------------------------------------------------
    def node_dir(self, node: NodePlan) -> Path:
        return self.state_dir / node.name

    def conf_path(self, node: NodePlan) -> Path:
        return self.node_dir(node) / ("sentinel.conf" if node.kind is NodeKind.SENTINEL else "redis.conf")

    def log_path(self, node: NodePlan) -> Path:
        return self.node_dir(node) / ("sentinel.log" if node.kind is NodeKind.SENTINEL else "redis.log")

    def placement(self, node: NodePlan) -> Placement:
        directory = self.node_dir(node).resolve()
        return Placement(
            bind=node.address.host,
            dir=str(directory),
            logfile=str(self.log_path(node).resolve()),
            auth_file=str(directory / "auth.conf"),
            address_of=lambda other: other.address,
            tls_dir=tls_dir(self.state_dir.resolve()) if local_tls(self.plan.spec) else None,
        )

    # --- state ------------------------------------------------------------------------
    def pid(self, node: NodePlan) -> int | None:
        """The pid of this node's process when it is running and ours."""
        try:
            pid = int((self.node_dir(node) / "node.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        if not is_alive(pid) or process_cwd(pid) != self.node_dir(node).resolve():
            return None
        return pid

    def running(self, nodes: Iterable[NodePlan]) -> dict[str, int]:
        return {n.name: pid for n in nodes if (pid := self.pid(n)) is not None}

    def exists(self, node: NodePlan) -> bool:
        return self.conf_path(node).exists()

    # --- preparing and starting -----------------------------------------------------
    def check_ready_to_start(self, nodes: Sequence[NodePlan]) -> None:
        """Fail early, with one clear line, on what would make a start fail."""
        for node in nodes:
            if not is_loopback(node.address.host):
                raise UsageError(f"node {node.name}: {node.address.host} is not a loopback address",
                                 hint="the local runtime binds to loopback only; render compose for other hosts")
        self._check_state_dir()
        for node in nodes:
            ports = [node.address.port] + ([node.address.port + 10000] if node.kind is NodeKind.CLUSTER else [])
            for port in ports:
                self._wait_port_free(node, port)

    def _wait_port_free(self, node: NodePlan, port: int, grace: float = 3.0) -> None:
        """A port held by a live process fails at once; one with no owner left is waited for.

        A process that was just killed drops its working directory (so it no
        longer counts as running) before the kernel runs its deferred socket
        closes: for a moment the port is busy and no process holds it.
        """
        deadline = self.clock.now() + grace
        while not port_is_free(node.address.host, port):
            owner = port_owner(port)
            if owner is not None or self.clock.now() > deadline:
                raise PortInUseError(f"{node.address.host}:{port}", node.name, owner, node.spec_path)
            self.clock.sleep(0.05)

    def _check_state_dir(self) -> None:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            probe = self.state_dir / f".write-test-{os.getpid()}"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise StateDirError(str(self.state_dir), exc.strerror or str(exc)) from exc

    def ensure_files(self, node: NodePlan) -> bool:
        """Write the node's config and auth file if it has none yet; True when written."""
        directory = self.node_dir(node)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._write_auth(node)  # the secrets file rules: a rotation lands at the start
        conf = self.conf_path(node)
        if conf.exists():
            return False
        write_private(conf, render_conf(self.plan, node, self.placement(node)))
        return True

    def write_auth(self, node: NodePlan) -> bool:
        """Rewrite the auth.conf of a node created before from the secrets as they are now (its next start reads
        it); False for a node never created."""
        if not self.conf_path(node).exists():
            return False
        self._write_auth(node)
        return True

    def _write_auth(self, node: NodePlan) -> None:
        """auth.conf from the secrets, written only when it differs."""
        auth = self.node_dir(node) / "auth.conf"
        text = "\n".join(self.auth_lines(node)) + "\n"
        if not auth.exists() or auth.read_text() != text:
            write_private(auth, text)

    def auth_lines(self, node: NodePlan) -> list[str]:
        """``auth.conf`` from the secrets: ACL users (hardened), or the legacy shared requirepass."""
        if not self.secrets.acl:
            return legacy_auth_lines(node, local_values(self.secrets))
        exporter = self.secrets.exporter_password
        extra = {EXPORTER_KEY: exporter} if exporter else {}
        lines = acl_auth_lines(node, local_values(self.secrets, extra), exporter=bool(extra),
                               migrating=self.secrets.migrating)
        if node.kind is NodeKind.SENTINEL:
            return lines
        return with_extra_rules(lines, extra_rules(data_server()))  # what only this server's commands need

    def start(self, node: NodePlan, binaries: Binaries, extra_args: Sequence[str] = ()) -> Started:
        """Spawn the node detached from us (own session); it outlives this process."""
        self.ensure_files(node)
        self._listen_as_the_spec_says(node)
        self._include_auth_last(node)
        directory = self.node_dir(node)
        argv = ([*binaries.sentinel, str(self.conf_path(node).resolve())] if node.kind is NodeKind.SENTINEL
                else [binaries.server, str(self.conf_path(node).resolve())])
        argv += list(extra_args)
        if node.kind is NodeKind.SENTINEL and binaries.sentinel == [binaries.server]:
            argv.append("--sentinel")
        with open(directory / "stderr.log", "ab") as err:
            # umask 077: what the node writes itself (CONFIG REWRITE, SENTINEL FLUSHCONFIG, which copy passwords
            # into its conf; RDB and AOF files) is its owner's alone, as redisops' own files are
            proc = subprocess.Popen(argv, cwd=directory, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                    start_new_session=True, close_fds=True, umask=0o077)
        write_private(directory / "node.pid", f"{proc.pid}\n")
        return Started(node, proc.pid)

    def _listen_as_the_spec_says(self, node: NodePlan) -> None:
        """Switch a stopped node's config between plaintext and TLS when the spec's choice changed since it was
        written (``redisops down`` + ``up``: every node switches at once; lifecycle refuses a half switch)."""
        conf = self.conf_path(node)
        text = conf.read_text()
        root = self.placement(node).tls_dir
        if conf_runs_tls(text) != (root is not None):
            write_private(conf, switch_conf(text, node, root))

    def _include_auth_last(self, node: NodePlan) -> None:
        """Keep ``include auth.conf`` as the conf's last line, and the passwords in auth.conf alone.

        CONFIG REWRITE (run by Sentinel on failover) copies the passwords inline
        and appends them after the include, and leaves the file at mode 0644.
        Redis applies the last value read, so moving the include back to the end
        makes ``auth.conf`` authoritative again; the inline copies of what
        auth.conf sets are dropped, so a password lives in one 0600 file and a
        rotated one leaves no stale copy behind.
        """
        conf = self.conf_path(node)
        auth_file = Path(self.placement(node).auth_file)
        include = f"include {auth_file}"
        try:
            owned = {conf_directive(line) for line in auth_file.read_text().splitlines() if line.strip()} | OWNED
        except OSError:
            owned = set(OWNED)
        lines = conf.read_text().splitlines()
        kept = [line for line in lines if line.strip() != include and conf_directive(line) not in owned]
        if kept == lines[:-1] and lines and lines[-1] == include:
            return
        write_private(conf, "\n".join([*kept, include]) + "\n")

    def wait_listening(self, started: Sequence[Started], timeout: float = 10.0) -> None:
        """Wait until each started process listens on its port; a process that dies says why."""
        pending = list(started)
        deadline = self.clock.now() + timeout
        while pending:
            self.check_alive(pending)
            for item in list(pending):
                if is_listening(item.node.address.host, item.node.address.port):
                    pending.remove(item)
            if pending and self.clock.now() > deadline:
                raise StartupError(pending[0].node.name, f"is not listening after {timeout:.0f} s",
                                   self.log_tail(pending[0].node))
            if pending:
                self.clock.sleep(0.02)

    def check_alive(self, started: Sequence[Started], doing: str = "starting") -> None:
        """Raise :class:`StartupError`, with the end of its log, for the first of ``started`` that exited."""
        for item in started:
            if not is_alive(item.pid):
                raise StartupError(item.node.name, f"exited while {doing}", self.log_tail(item.node))

    def log_tail(self, node: NodePlan, lines: int = 5) -> str:
        text = ""
        for path in (self.node_dir(node) / "stderr.log", self.log_path(node)):
            try:
                text += path.read_text(errors="replace")
            except OSError:
                continue
        return "\n".join(text.strip().splitlines()[-lines:])

    # --- stopping ---------------------------------------------------------------------
    def stop(self, nodes: Sequence[NodePlan], timeout: float = 30.0) -> list[str]:
        """SIGTERM (Redis saves and exits cleanly), repeated every second, then SIGKILL after ``timeout``.

        Repeated because Redis drops a shutdown it cannot do right now and does
        not retry it: a replica that just finished a full sync is writing its
        initial AOF and answers SIGTERM with "Writing initial AOF, can't exit."
        Returns the names of nodes that had to be killed.
        """
        pids = self.running(nodes)
        for pid in pids.values():
            send_signal(pid, signal.SIGCONT)  # a paused node cannot act on SIGTERM
        deadline = self.clock.now() + timeout
        next_term = self.clock.now()
        while any(is_alive(pid) for pid in pids.values()) and self.clock.now() < deadline:
            if self.clock.now() >= next_term:
                for pid in pids.values():
                    if is_alive(pid):
                        send_signal(pid, signal.SIGTERM)
                next_term = self.clock.now() + 1.0
            self.clock.sleep(0.05)
        killed = [name for name, pid in pids.items() if is_alive(pid)]
        for name in killed:
            send_signal(pids[name], signal.SIGKILL)
        for name in pids:
            (self.state_dir / name / "node.pid").unlink(missing_ok=True)
        return killed

    def signal(self, node: NodePlan, sig: signal.Signals) -> int:
        pid = self.pid(node)
        if pid is None:
            raise UsageError(f"node {node.name} is not running")
        send_signal(pid, sig)
        return pid

    def purge(self) -> None:
        shutil.rmtree(self.state_dir, ignore_errors=True)


"""Redis Commander (npm ``redis-commander``) on loopback, connected to every group and the cluster.

Passwords reach it through one generated config file, never its command line
(``ps`` shows that to every user) nor its environment.  Redis Commander reads
its settings with node-config: ``NODE_CONFIG_DIR`` lists its own ``config/``
(``default.json``) and then ours, and ``NODE_ENV=redisops`` makes node-config
load our ``redisops.json`` after the defaults.  That file (mode 0600, in a 0700
directory) holds:

- one connection per Sentinel group, through all of its sentinels
  (``sentinels`` + ``sentinelName``, ``sentinelPassword`` for the sentinels and
  ``password`` for the data nodes): ioredis asks the sentinels for the master
  on every (re)connect, so after a failover or a ``redisops down`` + ``up`` the
  UI reconnects by itself to whichever node is master then;
- one connection for the cluster listing every node (``clusters``), so it can
  start while any one of them answers; it lists keys on every master.

``noSave`` keeps Redis Commander from writing connections (passwords included)
back into a config file of its own, ``noLogData`` keeps values out of its log.

Over TLS (``tls.enabled``) each connection carries ``tls``: Node's TLS options with
the CA bundle, and redisops' client certificate and key as PEM text (Redis Commander
reads files only for its first, command-line connection), so the key lives in the
same private file as the passwords, and goes with it; ``sentinelTLS: true`` reuses
them for the sentinels.  The server's certificate is checked against the address
connected to, as everywhere else.  A start whose config would differ from the running
one's (certificates rotated, the cluster scaled) restarts it on the same port.
The process runs detached (its own session) so it outlives the ``redisops ui``
that started it; ``ui/commander.pid`` records its pid and start time, so a
reused pid never passes for it.  Checked in 0.9.0 (the version ``make
commander`` pins): Sentinel with passwords on both sentinels and nodes, and
Redis Cluster with a password, both work.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from redisops.auth import TlsFiles, login_parts
from redisops.clock import Clock, SystemClock
from redisops.errors import EnvironmentProblem, PortInUseError, StartupError, StateDirError, UsageError
from redisops.runtime.plan import Plan, build_plan, state_dir
from redisops.runtime.processes import (
    Owner,
    is_alive,
    is_listening,
    port_is_free,
    port_owner,
    process_started,
    send_signal,
)
from redisops.runtime.tls import open_secrets
from redisops.spec.load import load
from redisops.spec.secrets import Secrets, write_private

__all__ = [
    "COMMANDER_VERSION",
    "DEFAULT_PORT",
    "HOST",
    "INSTALL_COMMAND",
    "Commander",
    "CommanderTool",
    "ConnectionState",
    "MissingToolError",
    "StartResult",
    "UIPortInUseError",
    "UIStartError",
    "UIState",
    "commander_config",
    "describe",
    "find_tool",
]

#: the version ``make commander`` installs (tools/commander/package-lock.json) and this module was checked with
COMMANDER_VERSION = "0.9.0"
#: Redis Commander's own default port
DEFAULT_PORT = 8081
#: the UI shows every key and takes writes: loopback only
HOST = "127.0.0.1"
#: where ``make commander`` puts it, relative to the spec's directory (or a parent of it, or of the cwd)
TOOLS_DIR = Path(".redisops") / "tools"
INSTALL_COMMAND = f"npm install --prefix {TOOLS_DIR} redis-commander@{COMMANDER_VERSION}"
NODE_INSTALL_COMMAND = "sudo apt-get install -y nodejs npm"
_SCRIPT = Path("node_modules") / "redis-commander" / "bin" / "redis-commander.js"
#: node-config loads ``<NODE_ENV>.json`` after ``default.json``: our file, by this name
_DEPLOYMENT = "redisops"


class MissingToolError(EnvironmentProblem):
    """``node`` or Redis Commander is not installed (exit 2); ``.hint`` is the command that installs it."""

    def __init__(self, tool: str, message: str, install: str) -> None:
        self.tool = tool
        super().__init__(message, hint=install)


class UIPortInUseError(PortInUseError):
    """The UI's port is taken: the fix is another ``--port``, not the spec."""

    def __init__(self, port: int, owner: str | None) -> None:
        super().__init__(f"{HOST}:{port}", "ui", owner, "--port")
        who = f" by {owner}" if owner else " by another process"
        self.message = f"{HOST}:{port} (Redis Commander's port) is already in use{who}"
        self.hint = f"stop that process or pick another port: `redisops ui --port {_other_port(port)}`"


class UIStartError(StartupError):
    """Redis Commander exited or did not listen while starting; ``.log_tail`` is the end of its log."""

    def __init__(self, what: str, log_tail: str, log_path: Path) -> None:
        super().__init__("ui", what, log_tail)
        lines = [line.strip() for line in log_tail.splitlines() if line.strip()]
        errors = [line for line in lines if "Error" in line]
        last = (errors or lines or [""])[-1]
        self.message = f"Redis Commander {what}" + (f" ({last})" if last else "")
        self.hint = f"see {log_path}"


def _other_port(port: int) -> int:
    return port + 1 if port < 65535 else 8082


@dataclass(frozen=True)
class CommanderTool:
    """How to run Redis Commander: ``node`` and the package's ``bin/redis-commander.js``."""

    node: str
    script: Path

    @property
    def package_dir(self) -> Path:
        return self.script.parent.parent

    @property
    def version(self) -> str | None:
        try:
            return str(json.loads((self.package_dir / "package.json").read_text())["version"])
        except (OSError, ValueError, KeyError):
            return None


def find_tool(roots: Iterable[Path]) -> CommanderTool:
    """``node`` on PATH and Redis Commander: ``$REDISOPS_COMMANDER`` (its package directory or its
    ``bin/redis-commander.js``), else ``.redisops/tools`` in a root or one of its parents (``make commander``
    installs it there), else a global ``redis-commander`` on PATH (``npm install -g``)."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        raise MissingToolError("node", "node (Node.js) not found on PATH: Redis Commander runs on it",
                               f"install it with `{NODE_INSTALL_COMMAND}`, then `make commander`")
    candidates = _candidates(roots)
    for script in candidates:
        if script.is_file():
            return CommanderTool(node, script.resolve())
    looked = ", ".join(str(c.parents[2]) for c in candidates[:3])
    raise MissingToolError("redis-commander", f"Redis Commander not found (looked in {looked}, and on PATH)",
                           f"install it with `make commander`, or `{INSTALL_COMMAND}` in the spec's directory")


def _candidates(roots: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    configured = os.environ.get("REDISOPS_COMMANDER")
    if configured:
        path = Path(configured)
        out.append(path if path.suffix == ".js" else path / "bin" / "redis-commander.js")
    for root in roots:
        for directory in (root.resolve(), *root.resolve().parents):
            candidate = directory / TOOLS_DIR / _SCRIPT
            if candidate not in out:
                out.append(candidate)
    on_path = shutil.which("redis-commander")
    if on_path:
        out.append(Path(on_path).resolve())
    return out


def commander_config(plan: Plan, secrets: Secrets, port: int) -> dict[str, Any]:
    """Redis Commander's settings: loopback, ``port``, nothing saved or logged, one connection per group and
    one for the cluster."""
    connections: list[dict[str, Any]] = []
    username, password = login_parts(secrets.admin)  # an admin UI: it may flush, delete, run any command
    login: dict[str, Any] = {"username": username, "password": password} if username else {"password": password}
    if secrets.tls is not None:
        login["tls"] = _tls_options(secrets.tls)
    for layout in plan.groups:
        connections.append({
            "label": f"{layout.spec.name} (sentinels)",
            "sentinels": [{"host": s.address.host, "port": s.address.port} for s in layout.sentinels],
            "sentinelName": layout.spec.name,
            "sentinelPassword": secrets.sentinel_password,
            **login,
            **({"sentinelTLS": True} if secrets.tls is not None else {}),
            "dbIndex": 0,
        })
    if plan.cluster is not None:
        connections.append({
            "label": f"{plan.cluster.spec.name} (cluster)",
            "clusters": [{"host": n.address.host, "port": n.address.port} for n in plan.cluster.nodes],
            **login,
            "dbIndex": 0,
        })
    return {
        "noSave": True,
        "noLogData": True,
        "server": {"address": HOST, "port": port},
        "redis": {"connectionName": "redisops-ui"},
        "connections": connections,
    }


def _tls_options(files: TlsFiles) -> dict[str, str]:
    """Node's ``tls.connect`` options: the CA bundle to trust and the client certificate to show, as PEM."""
    try:
        out = {"ca": Path(files.ca_file).read_text()}
        if files.cert_file and files.key_file:
            out |= {"cert": Path(files.cert_file).read_text(), "key": Path(files.key_file).read_text()}
    except OSError as exc:
        raise UsageError(f"cannot read the TLS material for Redis Commander: {exc.filename}: "
                         f"{exc.strerror or exc}", hint="run `redisops up` (it makes or renews the certificates)",
                         ) from exc
    return out


@dataclass(frozen=True)
class UIState:
    """A running Redis Commander, as its pid file records it."""

    pid: int
    started: int  # the process' start time (clock ticks since boot): with the pid, it names one process
    port: int
    version: str | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"


@dataclass(frozen=True)
class ConnectionState:
    """One connection as Redis Commander reports it (``/apiv2/server/info``)."""

    label: str
    connected: bool
    error: str | None = None


@dataclass(frozen=True)
class StartResult:
    state: UIState
    already_running: bool
    connections: tuple[ConnectionState, ...]

    @property
    def all_connected(self) -> bool:
        return bool(self.connections) and all(c.connected for c in self.connections)


class Commander:
    """Start, find and stop the Redis Commander of one deployment (state in ``<state_dir>/ui/``)."""

    def __init__(self, plan: Plan, secrets: Secrets, state_dir: Path, clock: Clock | None = None) -> None:
        self.plan = plan
        self.secrets = secrets
        self.dir = state_dir / "ui"
        self.clock = clock or SystemClock()

    @classmethod
    def open(cls, spec_file: Path, *, clock: Clock | None = None) -> Commander:
        """The UI of the deployment ``spec_file`` describes (its state next to the nodes': ``.redisops/<name>/``).

        Reads the spec and secrets itself rather than through ``lifecycle.Deployment``, whose imports (the
        cluster and topology packages) would double the start-up time of ``redisops ui``.
        """
        spec = load(spec_file)
        secrets = open_secrets(spec, spec_file)
        return cls(build_plan(spec), secrets, state_dir(spec, spec_file), clock)

    @property
    def config_path(self) -> Path:
        return self.dir / "config" / f"{_DEPLOYMENT}.json"

    @property
    def pid_path(self) -> Path:
        return self.dir / "commander.pid"

    @property
    def log_path(self) -> Path:
        return self.dir / "commander.log"

    def running(self) -> UIState | None:
        """The Redis Commander this deployment started, when it still runs."""
        try:
            state = UIState(**json.loads(self.pid_path.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        if not Owner(state.pid, state.started).alive():
            return None
        return state

    def start(self, tool: CommanderTool, port: int | None = None, *, timeout: float = 20.0,
              connect_timeout: float = 15.0) -> StartResult:
        """Start it (or keep the running one when ``port`` is None or its own, and its config is what this
        start would write) and wait for its connections.

        The config is written anew at every start, so a spec that changed (a
        scaled cluster) or certificates renewed are what the UI connects with:
        a running UI whose config differs is restarted on its port.
        """
        current = self.running()
        if current is not None and port in (None, current.port):
            if self._config_text(current.port) == self._read_config():
                return StartResult(current, True, self.wait_connected(current, connect_timeout))
            self.stop()  # its port: free once it has exited
            port = current.port
        port = DEFAULT_PORT if port is None else port
        self._wait_port_free(port)  # before stopping the running one: a taken port leaves it running
        if current is not None and self.running() is not None:
            self.stop()
        self._write_config(port)
        state = self._spawn(tool, port)
        self._wait_listening(state, timeout)
        return StartResult(state, False, self.wait_connected(state, connect_timeout))

    def stop(self, timeout: float = 10.0) -> UIState | None:
        """SIGTERM, then SIGKILL after ``timeout``; the config (it holds passwords) goes with it."""
        state = self.running()
        if state is not None:
            send_signal(state.pid, signal.SIGTERM)
            if not self._wait_gone(state.pid, timeout):
                send_signal(state.pid, signal.SIGKILL)
                self._wait_gone(state.pid, 5.0)
        self.pid_path.unlink(missing_ok=True)
        self.config_path.unlink(missing_ok=True)
        return state

    def connections(self, state: UIState) -> tuple[ConnectionState, ...]:
        """What Redis Commander says of each connection; empty while it does not answer."""
        import httpx

        try:
            # trust_env=False: an HTTP_PROXY of the caller's must not carry a loopback request elsewhere
            reply = httpx.get(f"{state.url}apiv2/server/info", timeout=3.0, trust_env=False)
            entries = reply.json().get("data", [])
        except (httpx.HTTPError, ValueError, AttributeError):
            return ()
        return tuple(ConnectionState(str(e.get("label")), not e.get("disabled") and not e.get("error"),
                                     e.get("error")) for e in entries if isinstance(e, dict))

    def wait_connected(self, state: UIState, timeout: float) -> tuple[ConnectionState, ...]:
        """Poll until every connection is up, or ``timeout``: then the states as they are."""
        deadline = self.clock.now() + timeout
        expected = len(self.plan.groups) + (self.plan.cluster is not None)
        while True:
            states = self.connections(state)
            done = len(states) >= expected and all(s.connected for s in states)
            if done or self.clock.now() >= deadline:
                return states
            self.clock.sleep(0.2)

    # --- internals ------------------------------------------------------------------
    def _config_text(self, port: int) -> str:
        return json.dumps(commander_config(self.plan, self.secrets, port), indent=2) + "\n"

    def _read_config(self) -> str | None:
        try:
            return self.config_path.read_text()
        except OSError:
            return None

    def _write_config(self, port: int) -> None:
        text = self._config_text(port)
        try:
            self.config_path.parent.mkdir(parents=True, exist_ok=True)
            for directory in (self.dir, self.config_path.parent):
                directory.chmod(0o700)
            write_private(self.config_path, text)
        except OSError as exc:
            raise StateDirError(str(self.dir), exc.strerror or str(exc)) from exc

    def _environment(self, tool: CommanderTool) -> dict[str, str]:
        """Only what it needs: the caller's PORT, REDIS_*, NODE_CONFIG... would override our config."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.dir),  # no ~/.redis-commander of the user's merged in
            "NODE_ENV": _DEPLOYMENT,
            "NODE_CONFIG_DIR": os.pathsep.join([str(tool.package_dir / "config"), str(self.config_path.parent)]),
            "SUPPRESS_NO_CONFIG_WARNING": "1",
        }

    def _spawn(self, tool: CommanderTool, port: int) -> UIState:
        argv = [tool.node, str(tool.script), "--address", HOST, "--port", str(port)]
        log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # this run's log only
        try:
            proc = subprocess.Popen(argv, env=self._environment(tool), cwd=self.dir, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            os.close(log)
        started = process_started(proc.pid)
        state = UIState(proc.pid, started or 0, port, tool.version)
        write_private(self.pid_path, json.dumps(asdict(state)) + "\n")
        return state

    def _wait_port_free(self, port: int, grace: float = 3.0) -> None:
        """A port a live process listens on fails at once; one busy with no listener (a socket of a process
        that just exited, still closing) is waited for a moment."""
        deadline = self.clock.now() + grace
        while not port_is_free(HOST, port):
            owner = port_owner(port)
            if owner is not None or self.clock.now() >= deadline:
                raise UIPortInUseError(port, owner)
            self.clock.sleep(0.05)

    def _wait_listening(self, state: UIState, timeout: float) -> None:
        deadline = self.clock.now() + timeout
        while not is_listening(HOST, state.port):
            if not is_alive(state.pid):
                self.pid_path.unlink(missing_ok=True)
                raise UIStartError("exited while starting", self._log_tail(), self.log_path)
            if self.clock.now() >= deadline:
                self.stop()
                raise UIStartError(f"did not listen on {HOST}:{state.port} within {timeout:.0f} s",
                                   self._log_tail(), self.log_path)
            self.clock.sleep(0.1)

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = self.clock.now() + timeout
        while is_alive(pid):
            if self.clock.now() >= deadline:
                return False
            self.clock.sleep(0.05)
        return True

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(line for line in text.splitlines()[-lines:] if line.strip())


def describe(states: Sequence[ConnectionState]) -> list[str]:
    """``mymaster (sentinels): connected`` lines, for people."""
    return [f"{s.label}: {'connected' if s.connected else s.error or 'not connected'}" for s in states]

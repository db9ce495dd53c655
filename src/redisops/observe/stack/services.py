"""The stack's three processes: how each is started, found, reloaded and stopped.

Like the Redis nodes (:mod:`redisops.runtime.local`), each runs detached (its own
session: it outlives the CLI) in its own directory under
``.redisops/<name>/monitor/``, with a pid file; a process is ours when the pid
file names it, it is alive and its working directory is that directory, so a
reused pid never counts.  Ports in use and dead starts are one clear line,
with the end of the process's log.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from redisops.clock import Clock
from redisops.errors import MissingBinaryError, PortInUseError, StartupError
from redisops.runtime.processes import is_alive, port_is_free, port_owner, process_cwd, send_signal
from redisops.spec.secrets import write_private

__all__ = ["Service", "find_binary"]

PID_FILE = "service.pid"
FINGERPRINT_FILE = "service.fingerprint"
LOG_FILE = "service.log"


def find_binary(name: str, package: str) -> str:
    """The path of a Debian package's binary, or the apt line that installs it."""
    found = shutil.which(name)
    if found is None:
        raise MissingBinaryError(name, package)
    return found


@dataclass(frozen=True)
class Service:
    """One process of the stack.

    ``argv`` never holds a secret (``ps`` shows it); ``configs`` are the files it
    reads, whose content with ``argv`` makes its fingerprint: a running
    service whose fingerprint changed is reloaded (``SIGHUP``, when
    ``reloadable`` and only the files changed) or restarted.
    """

    name: str
    directory: Path
    argv: tuple[str, ...]
    host: str
    port: int
    spec_path: str
    ready_path: str
    configs: tuple[Path, ...] = ()
    reloadable: bool = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # --- state -------------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid when it runs and is ours: named by the pid file, or else an orphan (below)."""
        try:
            pid = int((self.directory / PID_FILE).read_text().strip())
        except (OSError, ValueError):
            return self._orphan()
        if not is_alive(pid) or process_cwd(pid) != self.directory.resolve():
            return self._orphan()
        return pid

    def _orphan(self) -> int | None:
        """Our process without its pid file: the one on our port whose working directory is (or was) ours.

        ``redisops down --purge`` deletes the state directory under a running
        stack; the kernel then shows the process's cwd as ``<dir> (deleted)``.
        Without this, the next ``monitor up`` would call our own Prometheus a
        stranger holding the port, and ``monitor down`` could not stop it.
        """
        owner = port_owner(self.port)
        if owner is None or "(pid " not in owner:
            return None
        pid = int(owner.rsplit("(pid ", 1)[1].rstrip(")"))
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            return None
        mine = str(self.directory.resolve())
        return pid if cwd in (mine, f"{mine} (deleted)") and is_alive(pid) else None

    def fingerprint(self) -> str:
        digest = hashlib.sha256(json.dumps(self.argv).encode())
        for path in self.configs:
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def recorded(self) -> dict[str, str]:
        """What the running process was started or last reloaded with: ``{"argv": ..., "fingerprint": ...}``."""
        try:
            data = json.loads((self.directory / FINGERPRINT_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _record(self) -> None:
        write_private(self.directory / FINGERPRINT_FILE,
                      json.dumps({"argv": json.dumps(self.argv), "fingerprint": self.fingerprint()}))

    # --- acting ------------------------------------------------------------------
    def check_port(self) -> None:
        if not port_is_free(self.host, self.port):
            raise PortInUseError(f"{self.host}:{self.port}", self.name, port_owner(self.port), self.spec_path)

    def start(self) -> int:
        """Spawn it detached, in its directory; its output goes to its log."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.directory / LOG_FILE, "ab") as log:
            proc = subprocess.Popen(self.argv, cwd=self.directory, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=log, start_new_session=True, close_fds=True)
        write_private(self.directory / PID_FILE, f"{proc.pid}\n")
        self._record()
        return proc.pid

    def converge(self) -> str:
        """Leave it, reload it or restart it, after its configs were written: returns what was done."""
        pid = self.pid()
        if pid is None:
            self.check_port()
            self.start()
            return "started"
        recorded = self.recorded()
        if recorded.get("fingerprint") == self.fingerprint():
            return "already running"
        if self.reloadable and recorded.get("argv") == json.dumps(self.argv):
            send_signal(pid, signal.SIGHUP)
            self._record()
            return "reloaded"
        self.stop()
        self.check_port()
        self.start()
        return "restarted"

    def wait_ready(self, clock: Clock, timeout: float) -> None:
        """Until ``ready_path`` answers 200; a process that exits meanwhile says why (the end of its log)."""
        deadline = clock.now() + timeout
        with httpx.Client(timeout=1.0, verify=False) as client:  # plain HTTP on loopback: no CA bundle
            while True:
                pid = self.pid()
                if pid is None:
                    raise StartupError(self.name, "exited while starting", self.log_tail())
                try:
                    if client.get(self.url + self.ready_path).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if clock.now() > deadline:
                    raise StartupError(self.name, f"is not ready after {timeout:.0f} s", self.log_tail())
                clock.sleep(0.1)

    def stop(self, timeout: float = 15.0, clock: Clock | None = None) -> bool:
        """SIGTERM, then SIGKILL after ``timeout``; waits until it has exited.  True when it was running."""
        from redisops.clock import SystemClock

        clock = clock or SystemClock()
        pid = self.pid()
        if pid is None:
            (self.directory / PID_FILE).unlink(missing_ok=True)
            return False
        send_signal(pid, signal.SIGTERM)
        deadline = clock.now() + timeout
        while is_alive(pid) and clock.now() < deadline:
            clock.sleep(0.05)
        if is_alive(pid):
            send_signal(pid, signal.SIGKILL)
            kill_deadline = clock.now() + 5.0
            while is_alive(pid) and clock.now() < kill_deadline:
                clock.sleep(0.05)
        # A Go service's main thread shows as a zombie while its other threads still close the listener: wait for
        # the port too, or a restart right after finds it taken by nobody (seen once in 3 runs of the state-dir test).
        port_deadline = clock.now() + 5.0
        while not port_is_free(self.host, self.port) and clock.now() < port_deadline:
            clock.sleep(0.05)
        (self.directory / PID_FILE).unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = (self.directory / LOG_FILE).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])


def running(services: Sequence[Service]) -> dict[str, int]:
    return {s.name: pid for s in services if (pid := s.pid()) is not None}

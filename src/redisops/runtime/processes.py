"""Processes and ports on this machine, read from /proc.

A process is "ours" when its pid file names it, it is alive (zombies and
reaped pids are dead) and its working directory is the node's directory:
redis-server and redis-sentinel ``chdir`` to their ``dir``, and redisops starts
them there.  Pid reuse by an unrelated process therefore never counts as ours.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Owner", "is_alive", "is_listening", "listen_table", "listening_ports", "port_is_free", "port_owner",
           "process_cwd", "process_started", "send_signal"]


def is_alive(pid: int) -> bool:
    """True for running or stopped processes; False for zombies and gone pids."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap our own children so they do not linger as zombies
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def process_started(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat`` field 22): with the pid it names
    one process for good, whereas a pid alone may be reused by another process later."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[-1].split()[19])


@dataclass(frozen=True)
class Owner:
    """One process for good: pid plus start time, so a reused pid is not mistaken for it (the process that made a
    temporary change, a scratch directory, a UI's pid file)."""

    pid: int
    started: int

    @classmethod
    def me(cls) -> Owner:
        return cls(os.getpid(), process_started(os.getpid()) or 0)

    def alive(self) -> bool:
        return is_alive(self.pid) and process_started(self.pid) == self.started


def process_cwd(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def send_signal(pid: int, sig: signal.Signals) -> bool:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def port_is_free(host: str, port: int) -> bool:
    """Can a listener bind ``host:port`` right now?"""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def is_listening(host: str, port: int, timeout: float = 0.2) -> bool:
    """Does something accept connections on ``host:port``?  (Unlike a bind probe,
    a connect never takes the port away from a server that is binding it.)"""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_owner(port: int) -> str | None:
    """``name (pid N)`` of the process listening on ``port``, when /proc tells."""
    inodes = {inode for inode, listening in listen_table().items() if listening == port}
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    name = (proc / "comm").read_text().strip()
                    return f"{name} (pid {proc.name})"
        except OSError:
            continue
    return None


def listen_table(proc: Path = Path("/proc")) -> dict[str, int]:
    """Socket inode -> port of every TCP socket in LISTEN here (/proc/net/tcp{,6}).

    Those files list every socket of the network namespace (thousands on a busy host,
    and the kernel takes ~20 ms to write one out): read the table once for several
    lookups.  A process in another namespace (a container) has sockets that are not here.
    """
    table: dict[str, int] = {}
    for name in ("tcp", "tcp6"):
        try:
            rows = (proc / "net" / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split(maxsplit=10)
            if len(fields) > 9 and fields[3] == "0A":  # 0A: LISTEN
                table[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    return table


def listening_ports(pid: int, table: dict[str, int] | None = None, proc: Path = Path("/proc")) -> frozenset[int] | None:
    """TCP ports the process ``pid`` listens on (its socket inodes in ``table``); None if its fds are unreadable."""
    table = listen_table(proc) if table is None else table
    try:
        fds = list((proc / str(pid) / "fd").iterdir())
    except OSError:
        return None
    ports = set()
    for fd in fds:
        try:
            link = os.readlink(fd)
        except OSError:  # closed meanwhile (the listing's own fd, for one)
            continue
        if link.startswith("socket:[") and link[8:-1] in table:
            ports.add(table[link[8:-1]])
    return frozenset(ports)

"""A throw-away redis-server that loads one RDB: for digests, verification and restores.

The RDB is a production dataset, so the server is as private as the file:

* no TCP at all (``port 0``): it serves a unix socket in a fresh directory that
  only our user can enter (``mkdtemp``: 0700; the socket itself ``unixsocketperm
  700``), which also holds the RDB, its config and its log (those two 0600: it
  runs with umask 077), and is removed with it (or, if we were killed, by the
  next one: :func:`~redisops.data.backup.private.private_workdir`);
* ``requirepass`` with a random password that lives only in this object and in
  the 0600 config file (never on the command line, where ``ps`` would show it,
  and never logged), so even our own user's other programs get ``NOAUTH``;
* it dies with us: the explicit :meth:`ScratchServer.stop` runs in ``finally``
  (context manager), and on Linux the kernel also sends it SIGKILL when the
  process that started it dies for any reason (``PR_SET_PDEATHSIG``), so a
  watcher stopped or killed mid-backup leaves no server holding the data.

The dataset digest is the XOR of ``sha1(key, type, value digest)`` over all
keys: independent of key order and encoding, cheap to combine across SCAN
batches, and computed by the same server-side script ``verify`` uses.
TTLs are left out: they shrink while the backup ages.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

import redis

from redisops.data.backup.errors import BackupError
from redisops.data.backup.private import open_private, private_workdir
from redisops.data.digest import NodeReader

__all__ = ["ScratchServer", "dataset_digest"]

BATCH = 1000
#: sun_path holds 108 bytes with the terminating NUL; redis-server refuses a longer unixsocket
SOCKET_PATH_MAX = 107
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class ScratchServer:
    """One private redis-server for one RDB; use it as a context manager so it always stops."""

    def __init__(self, rdb: Path, *, binary: str = "redis-server", start_timeout: float = 120.0) -> None:
        self.rdb = rdb
        self.binary = binary
        self.start_timeout = start_timeout
        self.workdir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._cleanup = ExitStack()
        self._password = secrets.token_hex(32)

    def __enter__(self) -> ScratchServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def socket_path(self) -> Path:
        if self.workdir is None:
            raise BackupError("the scratch redis-server is not started")
        return self.workdir / "redis.sock"

    def start(self) -> None:
        if shutil.which(self.binary) is None:
            raise BackupError(f"{self.binary} not found on PATH", hint="install redis-server")
        self.workdir = self._cleanup.enter_context(private_workdir("redisops-scratch-"))
        if len(os.fsencode(self.socket_path)) > SOCKET_PATH_MAX:
            raise BackupError(f"the scratch socket path {self.socket_path} is longer than {SOCKET_PATH_MAX} bytes",
                              hint="point TMPDIR at a shorter directory")
        self._place_rdb(self.workdir / "dump.rdb")
        config = self.workdir / "redis.conf"
        with open_private(config) as out:
            out.write(_config(self.workdir, self.socket_path, self._password).encode())
        self.process = subprocess.Popen(
            [self.binary, str(config)], cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, umask=0o077, preexec_fn=_die_with(os.getpid()))
        self._wait_loaded()

    def _place_rdb(self, target: Path) -> None:
        if self.rdb.exists():
            target.hardlink_to(self.rdb) if _same_device(self.rdb, target.parent) else shutil.copy(self.rdb, target)

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket_path), password=self._password, socket_timeout=60,
                           protocol=2)

    def _wait_loaded(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        client = self.client()
        try:
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise BackupError(f"redis-server could not load the RDB: {self._log_tail()}")
                try:
                    if client.info("persistence").get("loading") == 0:
                        return
                except redis.AuthenticationError as exc:  # a ConnectionError, but waiting does not mend it
                    raise BackupError(f"the scratch redis-server refused its password: {exc}") from exc
                except (redis.ConnectionError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    raise BackupError(f"redis-server did not load the RDB within {self.start_timeout:g} s")
                time.sleep(0.02)
        finally:
            client.close()

    def _log_tail(self) -> str:
        log = self.socket_path.with_name("redis.log")
        lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
        return lines[-1].strip() if lines else "no log"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._cleanup.close()  # removes the directory


def _config(workdir: Path, socket_path: Path, password: str) -> str:
    """The server's whole config: a unix socket only, a password, no persistence of its own."""
    lines = [
        "port 0",  # no TCP listener at all
        f"unixsocket {_quote(str(socket_path))}",
        "unixsocketperm 700",
        f"requirepass {password}",  # hex: needs no quoting
        f"dir {_quote(str(workdir))}",
        "dbfilename dump.rdb",
        'save ""',
        "appendonly no",
        f"logfile {_quote(str(workdir / 'redis.log'))}",
        "daemonize no",
    ]
    return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    """A redis.conf string argument: double quotes, backslash escapes (temp dirs may hold spaces)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _die_with(parent: int) -> Callable[[], None] | None:
    """``preexec_fn`` that makes the kernel SIGKILL the child when ``parent`` dies (Linux; None elsewhere).

    ``PR_SET_PDEATHSIG`` fires when the *thread* that forked the child ends; a ScratchServer lives inside one
    ``with`` block, so that thread outlives it.  If the parent died between fork and prctl the child has
    already been re-parented and would never get the signal: it checks and exits.  ``prctl`` is looked up
    here, before the fork, so the child only makes one foreign call (preexec_fn runs between fork and exec,
    where a multi-threaded parent's locks may be held: nothing here takes one).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def dataset_digest(client: redis.Redis) -> tuple[int, str]:
    """(keys, digest) of a whole node, read through the digest script in SCAN batches."""
    reader = NodeReader(client)
    total = 0
    acc = 0
    cursor = 0
    while True:
        cursor, found = client.scan(cursor, count=BATCH)
        keys = [k for k in found if isinstance(k, bytes)]
        for key, state in zip(keys, reader.states(keys), strict=True):
            if state.exists:
                item = b"\0".join((key, state.type.encode(), state.digest.encode()))
                acc ^= int.from_bytes(hashlib.sha1(item).digest(), "big")
                total += 1
        if cursor == 0:
            return total, f"{acc:040x}"


def _same_device(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev

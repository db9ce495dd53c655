"""A throw-away redis-server that loads one RDB: for digests, verification and restores.

It listens on 127.0.0.1 on a free port, with no persistence of its own, in a
temporary directory that is removed with it.  ``stop`` always runs (context
manager), so a failed verification never leaves a server behind.

The dataset digest is the XOR of ``sha1(key, type, value digest)`` over all
keys: independent of key order and encoding, cheap to combine across SCAN
batches, and computed by the same server-side script ``verify`` uses.
TTLs are left out: they shrink while the backup ages.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from redisops.data.backup.errors import BackupError
from redisops.data.digest import NodeReader

__all__ = ["ScratchServer", "dataset_digest"]

BATCH = 1000


class ScratchServer:
    def __init__(self, rdb: Path, *, binary: str = "redis-server", start_timeout: float = 120.0) -> None:
        self.rdb = rdb
        self.binary = binary
        self.start_timeout = start_timeout
        self.workdir = Path(tempfile.mkdtemp(prefix="redisops-scratch-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

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

    def start(self) -> None:
        if shutil.which(self.binary) is None:
            raise BackupError(f"{self.binary} not found on PATH", hint="install redis-server")
        self.port = _free_port()
        target = self.workdir / "dump.rdb"
        if self.rdb.exists():
            target.hardlink_to(self.rdb) if _same_device(self.rdb, self.workdir) else shutil.copy(self.rdb, target)
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
             "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no", "--logfile", "redis.log",
             "--daemonize", "no"],
            cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_loaded()

    def client(self) -> redis.Redis:
        return redis.Redis("127.0.0.1", self.port, socket_timeout=60, protocol=2)

    def _wait_loaded(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        client = self.client()
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise BackupError(f"redis-server could not load the RDB: {self._log_tail()}")
            try:
                if client.info("persistence").get("loading") == 0:
                    return
            except (redis.ConnectionError, redis.BusyLoadingError):
                pass
            if time.monotonic() > deadline:
                raise BackupError(f"redis-server did not load the RDB within {self.start_timeout:g} s")
            time.sleep(0.02)

    def _log_tail(self) -> str:
        log = self.workdir / "redis.log"
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
        shutil.rmtree(self.workdir, ignore_errors=True)


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _same_device(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev

"""The scratch redis-server that holds a backup's data is private: no TCP, a password, gone with its parent."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from redisops.data.backup.scratch import ScratchServer
from redisops.runtime.processes import is_alive, process_cwd
from redisops.testing import assert_eventually


def listening_tcp_inodes() -> set[str]:
    """Socket inodes of every TCP listener in this network namespace (state 0A in /proc/net/tcp*)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":
                inodes.add(fields[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except FileNotFoundError:  # closed meanwhile (in our own process: the fd that listed the directory)
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def test_the_tcp_listener_check_sees_a_listener() -> None:
    """The detector the next test relies on: a listener of our own shows up."""
    with socket.create_server(("127.0.0.1", 0)):
        assert socket_inodes(os.getpid()) & listening_tcp_inodes()


def test_scratch_server_is_reachable_only_through_its_private_socket_with_the_password(tmp_path: Path) -> None:
    with ScratchServer(tmp_path / "none.rdb") as server:
        assert server.process is not None
        pid = server.process.pid
        assert socket_inodes(pid), "redis-server should hold its unix listener"
        assert socket_inodes(pid) & listening_tcp_inodes() == set(), "the scratch server listens on TCP"
        directory = server.socket_path.parent
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()} == {
            "redis.sock": 0o700, "redis.conf": 0o600, "redis.log": 0o600, ".owner": 0o600}
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(str(server.socket_path))
            sock.sendall(b"PING\r\n")
            assert sock.recv(200).startswith(b"-NOAUTH")
        client = server.client()
        password = client.connection_pool.connection_kwargs["password"]
        assert client.ping() and len(password) >= 32
        client.close()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        assert password.encode() not in cmdline
        assert password not in (directory / "redis.log").read_text()
    assert not directory.exists()


CHILD = """
import sys, time
from pathlib import Path
from redisops.data.backup.scratch import ScratchServer

server = ScratchServer(Path(sys.argv[1]))
server.start()
Path(sys.argv[2]).write_text(str(server.process.pid))
time.sleep(120)
"""


@contextmanager
def tempdir(path: Path) -> Iterator[None]:
    """The system temp dir is ``path`` for the block (tempfile caches it: TMPDIR alone would not do)."""
    saved, tempfile.tempdir = tempfile.tempdir, str(path)
    try:
        yield
    finally:
        tempfile.tempdir = saved


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """TMPDIR for the scratch directory: a short path (a unix socket path has at most 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="ro-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_scratch_server_dies_when_the_process_that_started_it_is_killed(tmp_path: Path, short_dir: Path) -> None:
    pid_file = tmp_path / "scratch.pid"
    parent = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "none.rdb"), str(pid_file)],
                              env={**os.environ, "TMPDIR": str(short_dir)}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    scratch = 0
    try:
        def started() -> int:
            assert parent.poll() is None, parent.stderr.read() if parent.stderr else ""
            assert pid_file.exists() and pid_file.read_text()
            return int(pid_file.read_text())

        scratch = assert_eventually(started, within=60)
        assert is_alive(scratch)
        parent.send_signal(signal.SIGKILL)  # no finally, no atexit: only the kernel can stop the server now
        parent.wait(10)

        def gone() -> None:
            assert not is_alive(scratch), f"scratch redis-server {scratch} outlived its parent"

        assert_eventually(gone, within=10)
        # its directory (the RDB copy) survives the SIGKILL; the next scratch server removes it, not a live one's
        left = [d for d in short_dir.iterdir() if d.name.startswith("redisops-scratch-")]
        assert len(left) == 1 and (left[0] / "dump.rdb").exists() is False  # none.rdb: no data, but the config
        assert (left[0] / "redis.conf").exists()
        unstamped = short_dir / "redisops-scratch-made-by-hand"  # no owner stamp: being made, or not ours
        unstamped.mkdir()
        with tempdir(short_dir), ScratchServer(tmp_path / "none.rdb") as server:
            assert server.workdir is not None and server.workdir.parent == short_dir
            assert sorted(d.name for d in short_dir.iterdir()) == sorted([server.workdir.name, unstamped.name])
        assert [d.name for d in short_dir.iterdir()] == [unstamped.name]
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        if parent.stderr:
            parent.stderr.close()
        cwd = process_cwd(scratch) if scratch else None
        if cwd is not None and short_dir in cwd.parents and is_alive(scratch):  # our orphan: the fix is missing
            os.kill(scratch, signal.SIGKILL)

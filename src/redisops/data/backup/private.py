"""Local files that only their owner can read: backups, raw RDBs, the scratch server's directory.

An RDB is the whole dataset, passwords in keys included, so every copy redisops
writes to a local disk is as secret as the nodes' own data directories: files
are created ``0600`` and directories ``0700``, whatever the umask (which could
only take bits away).  Modes are set when a file or directory is *created*: an
existing directory the user made (a backup root) is left as it is.

:class:`AtomicPrivateFile` writes to a private temporary name beside the target
and renames it into place on :meth:`~AtomicPrivateFile.close`, so a reader sees
either the whole file or none (a manifest half written never lists), and a file
abandoned half-way is removed by :meth:`~AtomicPrivateFile.discard` instead of
being left at the real name.

:func:`private_workdir` is the scratch directory of one backup, restore or scratch
server: 0700, removed when the block ends, and stamped with its owner's pid and
start time so that the next one removes what a killed redisops left behind (a
raw RDB copy would otherwise sit in the temp dir until the machine reboots).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from redisops.runtime.processes import Owner

__all__ = ["FILE_MODE", "DIR_MODE", "AtomicPrivateFile", "make_private_dirs", "open_private", "private_workdir"]

FILE_MODE = 0o600
DIR_MODE = 0o700


def open_private(path: Path) -> IO[bytes]:
    """``path`` opened for writing (created or truncated) with mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # a file that existed keeps its mode through O_CREAT
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def make_private_dirs(path: Path) -> None:
    """``mkdir -p`` where every directory created is 0700 (``os.makedirs`` applies the mode to the last one only)."""
    missing = []
    for directory in (path, *path.parents):
        if directory.is_dir():
            break
        missing.append(directory)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            if not directory.is_dir():
                raise
            continue  # made meanwhile by someone else: theirs, left alone
        os.chmod(directory, DIR_MODE)  # mkdir's mode went through the umask


#: inside a :func:`private_workdir`: "pid start-time" of the process that made it
OWNER_FILE = ".owner"


@contextmanager
def private_workdir(prefix: str, parent: Path | None = None) -> Iterator[Path]:
    """A fresh 0700 directory ``parent/prefix*`` (default: the system temp dir) for the block, then removed.

    Before making it, the directories with the same prefix whose owner process is gone are removed: what a
    redisops killed mid-way (SIGKILL, OOM, a power cut of the process) left there.  A directory without an
    owner stamp, or not ours, is left alone: it may be one being made right now, or someone else's.
    """
    base = Path(tempfile.gettempdir()) if parent is None else parent
    _sweep_orphans(base, prefix)
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=base))  # mkdtemp: 0700
    try:
        with open_private(workdir / OWNER_FILE) as out:
            me = Owner.me()
            out.write(f"{me.pid} {me.started}\n".encode())
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _sweep_orphans(base: Path, prefix: str) -> None:
    with suppress(OSError):
        for entry in base.iterdir():
            if entry.name.startswith(prefix) and _orphaned(entry):
                shutil.rmtree(entry, ignore_errors=True)


def _orphaned(directory: Path) -> bool:
    try:
        if directory.is_symlink() or not directory.is_dir() or directory.stat().st_uid != os.getuid():
            return False
        pid, started = (int(field) for field in (directory / OWNER_FILE).read_text().split())
    except (OSError, ValueError):
        return False
    return not Owner(pid, started).alive()


class AtomicPrivateFile:
    """A 0600 file written under a temporary name in the target's directory, renamed into place on close."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)  # mkstemp: 0600
        self.temp = Path(temp)
        self.file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> int:
        return self.file.write(data)

    def close(self) -> None:
        """Flush to disk, then rename over ``path``: the name only ever shows a complete file."""
        if self.file.closed:
            return
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.temp, self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        self.file.close()
        self.temp.unlink(missing_ok=True)

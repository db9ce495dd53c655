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
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO

__all__ = ["FILE_MODE", "DIR_MODE", "AtomicPrivateFile", "make_private_dirs", "open_private"]

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

"""This machine's kernel settings that matter to Redis, read from /proc and /sys (what Redis itself warns about at
start, ``src/syscheck.c``): one reader for the audit's host checks, the doctor's and ``tune memory``'s RAM; and
whether a node's host is this machine (only then do its host checks, files and sockets concern it)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from redisops.address import is_loopback

__all__ = ["HostSettings", "is_local", "mem_total", "read_host_settings"]


@dataclass(frozen=True)
class HostSettings:
    """Each None when its file is missing or unreadable (another kernel, a container)."""

    overcommit_memory: int | None
    #: the selected mode of /sys/kernel/mm/transparent_hugepage/enabled (``always [madvise] never`` -> madvise)
    transparent_hugepage: str | None
    somaxconn: int | None
    #: MemTotal of /proc/meminfo, in bytes
    mem_total: int | None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


def mem_total(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """MemTotal in bytes, None when the file does not say."""
    for line in (_read(meminfo) or "").splitlines():
        fields = line.split()
        if fields[:1] == ["MemTotal:"] and len(fields) > 1 and fields[1].isdigit():
            return int(fields[1]) * 1024
    return None


def read_host_settings(root: Path = Path("/")) -> HostSettings:
    """The settings under ``root`` (a test's fake tree, by default this machine)."""
    thp = _read(root / "sys/kernel/mm/transparent_hugepage/enabled")
    selected = thp.split("[", 1)[1].split("]", 1)[0] if thp and "[" in thp else thp
    return HostSettings(_int(_read(root / "proc/sys/vm/overcommit_memory")), selected,
                        _int(_read(root / "proc/sys/net/core/somaxconn")), mem_total(root / "proc/meminfo"))


def is_local(host: str) -> bool:
    """A host address of this machine: loopback, or one a socket can bind to here."""
    if is_loopback(host):
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    for family, _, _, _, address in infos:
        if is_loopback(str(address[0])):
            return True
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.bind((address[0], 0))
                return True
        except OSError:
            continue
    return False

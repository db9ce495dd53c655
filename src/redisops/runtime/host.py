"""This machine's kernel settings that matter to Redis, read from /proc and /sys (what Redis itself warns about at
start, ``src/syscheck.c``): one reader for the audit's host checks, the doctor's and ``tune memory``'s RAM."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["HostSettings", "mem_total", "read_host_settings"]


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

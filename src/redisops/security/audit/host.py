"""The local host, for the live layer: kernel settings, a process's listening ports, dpkg's redis version.

Everything is read from /proc, /sys and dpkg, never from Redis: INFO reports
``redis_version:7.0.15`` on every bookworm update, while the Debian revision
(``5:7.0.15-1~deb12u10``) is what says which CVEs are fixed.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from redisops.security.audit.model import HostFacts

__all__ = ["CveFix", "cve_table", "fixed_after", "listen_table", "listening_ports", "read_host", "version_older"]

_PROC = Path("/proc")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


def read_host(root: Path = Path("/")) -> HostFacts:
    thp = _read(root / "sys/kernel/mm/transparent_hugepage/enabled")
    selected = thp.split("[", 1)[1].split("]", 1)[0] if thp and "[" in thp else thp
    return HostFacts(_int(_read(root / "proc/sys/vm/overcommit_memory")), selected,
                     _int(_read(root / "proc/sys/net/core/somaxconn")), dpkg_version("redis-server"))


def dpkg_version(package: str) -> str | None:
    if shutil.which("dpkg-query") is None:
        return None
    done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True,
                          timeout=10, check=False)
    return done.stdout.strip() or None if done.returncode == 0 else None


def listen_table(proc: Path = _PROC) -> dict[str, int]:
    """Socket inode -> port of every TCP socket in LISTEN here (/proc/net/tcp{,6}, read once per audit).

    Those files list every socket of the network namespace (thousands on a busy host,
    and the kernel takes ~20 ms to write one out): reading them per node was most of
    a live audit's time.  A node's process in another namespace (a container) has
    sockets that are not here, and is then not reported on.
    """
    table: dict[str, int] = {}
    for name in ("tcp", "tcp6"):
        for row in (_read(proc / "net" / name) or "").splitlines()[1:]:
            fields = row.split(maxsplit=10)
            if len(fields) > 9 and fields[3] == "0A":  # 0A: LISTEN
                table[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    return table


def listening_ports(pid: int, table: dict[str, int] | None = None, proc: Path = _PROC) -> frozenset[int] | None:
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


@dataclass(frozen=True)
class CveFix:
    cve: str
    fixed: str
    summary: str


@functools.cache
def cve_table() -> tuple[str, tuple[CveFix, ...]]:
    """(release, fixes) from security/data/debian_redis_cves.yaml."""
    text = resources.files("redisops.security").joinpath("data/debian_redis_cves.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    return data["release"], tuple(CveFix(f["cve"], f["fixed"], f["summary"]) for f in data["fixes"])


def version_older(installed: str, fixed: str) -> bool:
    """``installed`` < ``fixed`` by Debian's rules (``dpkg --compare-versions``, the reference implementation)."""
    done = subprocess.run(["dpkg", "--compare-versions", installed, "lt", fixed], capture_output=True,
                          timeout=10, check=False)
    return done.returncode == 0


def fixed_after(installed: str) -> list[CveFix]:
    """The table's CVEs whose fix is newer than ``installed`` (only for a bookworm build of 7.0.x).

    The table is in version order, so a bisection asks dpkg about 5 versions, not all 25
    (each question is a process: 25 of them were half of a live audit's time).
    """
    if "deb12" not in installed and not installed.startswith("5:7.0."):
        return []
    fixes = cve_table()[1]
    low, high = 0, len(fixes)  # fixes[:low] are in `installed`, fixes[high:] are not
    while low < high:
        middle = (low + high) // 2
        if version_older(installed, fixes[middle].fixed):
            high = middle
        else:
            low = middle + 1
    return list(fixes[low:])

"""The local host, for the live layer: kernel settings, a process's listening ports, dpkg's redis version.

Everything is read from /proc, /sys and dpkg, never from Redis: INFO reports
``redis_version:7.0.15`` on every bookworm update, while the Debian revision
(``5:7.0.15-1~deb12u10``) is what says which CVEs are fixed.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from redisops.runtime.host import read_host_settings
from redisops.runtime.processes import listen_table, listening_ports
from redisops.security.audit.model import HostFacts

__all__ = ["CveFix", "cve_table", "fixed_after", "listen_table", "listening_ports", "read_host", "version_older"]


def read_host(root: Path = Path("/")) -> HostFacts:
    settings = read_host_settings(root)
    return HostFacts(settings.overcommit_memory, settings.transparent_hugepage, settings.somaxconn,
                     dpkg_version("redis-server"))


def dpkg_version(package: str) -> str | None:
    if shutil.which("dpkg-query") is None:
        return None
    done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True,
                          timeout=10, check=False)
    return done.stdout.strip() or None if done.returncode == 0 else None


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

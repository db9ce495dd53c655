"""Dependency floors: pyproject.toml's lower bounds are exactly what `make test-min` installs
(constraints-min.txt), so a floor cannot claim a version nobody tests; and the redis-py behaviour the floor
was raised for is there."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from redis.asyncio.connection import Connection

ROOT = Path(__file__).parents[2]


def floors(requirements: list[str]) -> dict[str, Version]:
    found: dict[str, Version] = {}
    for text in requirements:
        requirement = Requirement(text)
        lower = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        assert lower, f"{text}: give it a floor (>=), so that make test-min tests it"
        found[canonicalize_name(requirement.name)] = Version(lower[0])
    return found


def pins(path: Path) -> dict[str, Version]:
    lines = (line.strip() for line in path.read_text().splitlines())
    pairs = (line.split("==") for line in lines if line and not line.startswith("#"))
    return {canonicalize_name(name): Version(version) for name, version in pairs}


def test_every_floor_is_pinned_in_constraints_min() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = floors(project["project"]["dependencies"]) | floors(project["build-system"]["requires"])
    pinned = pins(ROOT / "constraints-min.txt")
    assert {name: pinned.get(name) for name in wanted} == wanted


def test_redis_py_sends_no_client_setinfo_when_the_probe_says_so() -> None:
    """topology/probe.py passes driver_info=None so that a probe is one round trip after AUTH; redis-py
    7.2.0-7.4.0 take the keyword but still send CLIENT SETINFO (an error reply from Redis 7.0)."""
    assert Connection(protocol=2, driver_info=None).driver_info is None

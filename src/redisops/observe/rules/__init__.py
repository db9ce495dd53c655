"""The Prometheus alert rules redisops ships, as files a Prometheus config can load.

``rule_files()`` lists them (``redis.yml``: every rule, its labels and the
target labels the scrape config must attach are described at its top and in
docs/alerts-rules.md).  They use only metrics that redis_exporter 1.45 (Debian
12) and the watcher's ``/metrics`` really export; the test suite checks that
against live exporters and runs ``promtool test rules`` on every rule.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from redisops.observe.rules.promql import metric_names

__all__ = ["metric_names", "rule_files"]


def rule_files() -> list[Path]:
    """The rule files (``*.yml``) in the installed package, sorted by name."""
    root = resources.files(__name__)
    return sorted(Path(str(entry)) for entry in root.iterdir() if entry.name.endswith(".yml"))

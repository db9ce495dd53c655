"""``redisops audit``: security checks on redis.conf / sentinel.conf files (static) and on running nodes (live).

Each check has an id (``RA001``...), a severity, a title, an explanation and a
one-line fix, and says which layers it runs in; docs/audit.md lists them all.

The live layer (redis-py, the spec's plan) is imported on first use, so the
static audit starts without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redisops.security.audit.conf import ConfigFileError, load_config
from redisops.security.audit.engine import Report, TargetError, audit_files, run_checks
from redisops.security.audit.formats import junit_xml, sarif
from redisops.security.audit.model import Finding, Kind, Layer, Severity, Target
from redisops.security.audit.registry import Check, all_checks

__all__ = ["Check", "ConfigFileError", "Finding", "Kind", "Layer", "LiveNode", "Report", "Severity", "Target",
           "TargetError", "TlsClient", "all_checks", "audit_files", "audit_live", "junit_xml", "load_config",
           "nodes_from_seeds", "nodes_from_spec", "run_checks", "sarif"]

if TYPE_CHECKING:
    from redisops.security.audit.live import LiveNode, TlsClient, audit_live, nodes_from_seeds, nodes_from_spec

_LIVE = ("LiveNode", "TlsClient", "audit_live", "nodes_from_seeds", "nodes_from_spec")


def __getattr__(name: str) -> Any:
    if name in _LIVE:
        from redisops.security.audit import live

        return getattr(live, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

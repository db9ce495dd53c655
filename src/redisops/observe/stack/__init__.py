"""The local monitoring stack: Prometheus, one multi-target redis_exporter and Alertmanager, from the spec.

``Monitor.open(spec_file).up()`` generates the configs, gives the exporter its
least-privilege ACL user on every node, starts (or reloads) the three Debian
binaries on loopback and waits until every node is scraped; ``status()`` reads
Prometheus' targets; ``down()`` stops it all.
"""

from redisops.observe.stack.config import EXPORTER_USER
from redisops.observe.stack.monitor import Monitor, MonitorConfigError, StackReport, Target

__all__ = ["EXPORTER_USER", "Monitor", "MonitorConfigError", "StackReport", "Target"]

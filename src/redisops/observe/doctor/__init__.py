"""``redisops doctor``: one node's (or a deployment's) health from the inside.

INFO (memory, stats, persistence, replication), MEMORY DOCTOR, LATENCY DOCTOR (the
latency monitor turned on for a sampling window when it is off, as a journaled
temporary setting), SLOWLOG grouped by command, big keys by sampled MEMORY USAGE,
fragmentation, and the host's kernel settings: findings with a severity, an
explanation and a fix.
"""

from redisops.observe.doctor.bigkeys import BigKeyLimits
from redisops.observe.doctor.examine import DoctorNode, DoctorSettings, examine
from redisops.observe.doctor.model import DoctorReport, Finding, NodeReport, Severity
from redisops.observe.doctor.rules import Thresholds

__all__ = ["BigKeyLimits", "DoctorNode", "DoctorReport", "DoctorSettings", "Finding", "NodeReport", "Severity",
           "Thresholds", "examine"]

"""The log anomaly scanner behind ``redisops logs scan``.

Reads Redis and Sentinel logs (``pid:role date level message``), finds the lines of
:data:`SIGNATURES` in one regex pass per buffer, folds them into incidents (one
failover however many sentinels logged it), and flags windows where a log wrote far
more than its own baseline.  ``follow`` does the same on lines as they are written.
"""

from redisops.observe.logs.findings import Finding, find_in
from redisops.observe.logs.follow import follow
from redisops.observe.logs.incidents import Correlator, Incident, correlate
from redisops.observe.logs.lines import LogFormatError, LogLine, parse_line
from redisops.observe.logs.scan import (
           LogSource,
           ScanOptions,
           ScanReport,
           file_sources,
           parse_duration,
           scan,
           spec_sources,
)
from redisops.observe.logs.signatures import SIGNATURES, Severity, Signature, grep_pattern
from redisops.observe.logs.spikes import Spike, SpikeRule

__all__ = ["SIGNATURES", "Correlator", "Finding", "Incident", "LogFormatError", "LogLine", "LogSource",
           "ScanOptions", "ScanReport", "Severity", "Signature", "Spike", "SpikeRule", "correlate", "file_sources",
           "find_in", "follow", "grep_pattern", "parse_duration", "parse_line", "scan", "spec_sources"]

"""Fault injection and drills: a writer that keeps the books, faults, lost-write accounting."""

from redisops.chaos.drill import DrillReport, Fault, RoundResult, drill_failover
from redisops.chaos.writer import WriteBook, Writer

__all__ = ["DrillReport", "Fault", "RoundResult", "WriteBook", "Writer", "drill_failover"]

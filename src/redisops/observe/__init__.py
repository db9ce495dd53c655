"""Observe: the local Prometheus / redis_exporter / Alertmanager stack, alert rules, dashboards, the log scanner.

Sits beside ``ha``, ``cluster`` and ``data``: it reads the spec and live nodes, and is driven by the CLI and the
daemon.
"""

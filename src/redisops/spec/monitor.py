"""Settings of the local monitoring stack (``redisops monitor up``): Prometheus, redis_exporter, Alertmanager.

Ports are each tool's well-known port moved into the 94xx range (Prometheus 9490,
Alertmanager 9493, redis_exporter 9421), bound to loopback only: installing
Debian's packages starts their own services on 9090, 9093 and 9121 wherever
systemd runs, so the well-known ports would collide on a fresh machine (the same
reason the nodes use 6400 rather than 6379).  Intervals are Prometheus' and
Alertmanager's own defaults, which suit a production deployment; tests and demos
shorten them.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from redisops.address import is_loopback
from redisops.spec.base import SpecModel

__all__ = ["MonitorSpec"]


class MonitorSpec(SpecModel):
    """The local Prometheus + redis_exporter + Alertmanager stack."""

    #: every listener binds here; the stack scrapes and serves on loopback only
    host: str = "127.0.0.1"
    prometheus_port: int = Field(default=9490, ge=1, le=65535)
    alertmanager_port: int = Field(default=9493, ge=1, le=65535)
    #: one redis_exporter for every node, through its multi-target ``/scrape`` endpoint
    exporter_port: int = Field(default=9421, ge=1, le=65535)
    #: 15 s: Prometheus' own default; a dead master shows as ``redis_up == 0`` within one interval
    scrape_interval_s: float = Field(default=15.0, ge=0.5, le=600)
    #: how often alert rules are evaluated (Prometheus' default, 15 s)
    evaluation_interval_s: float = Field(default=15.0, ge=0.5, le=600)
    #: Alertmanager waits this long for more alerts of a group before the first notification (its default, 30 s)
    group_wait_s: float = Field(default=30.0, ge=0, le=3600)
    #: ... and this long before notifying about alerts added to a group already notified (its default, 5 min)
    group_interval_s: float = Field(default=300.0, ge=1, le=86400)
    #: a still-firing alert is sent again after this long (its default, 4 h)
    repeat_interval_s: float = Field(default=14400.0, ge=60, le=7 * 86400)
    #: how long Prometheus keeps samples
    retention_days: int = Field(default=15, ge=1, le=3650)
    #: the host port (loopback) a Compose project rendered ``--with-monitoring`` publishes Grafana on; the local
    #: stack does not run Grafana (not packaged for Debian 12), so nothing binds it locally
    grafana_port: int = Field(default=3000, ge=1, le=65535)
    #: extra rule files or globs (relative to the spec file), besides the rules redisops ships
    rule_files: list[str] = Field(default_factory=list)

    @field_validator("host")
    @classmethod
    def _loopback(cls, host: str) -> str:
        if not is_loopback(host):
            raise ValueError(f"{host!r} is not a loopback address: the local stack listens on loopback only "
                             "(use 127.0.0.1)")
        return host

    @model_validator(mode="after")
    def _distinct_ports(self) -> MonitorSpec:
        ports = {"prometheus_port": self.prometheus_port, "alertmanager_port": self.alertmanager_port,
                 "exporter_port": self.exporter_port}
        seen: dict[int, str] = {}
        for name, port in ports.items():
            if port in seen:
                raise ValueError(f"{name} {port} is also {seen[port]}: give each tool its own port")
            seen[port] = name
        return self

    def port_claims(self) -> list[tuple[str, str, int]]:
        """(field path, role, port) of every listener, for the spec's port-overlap rule."""
        return [("monitor.prometheus_port", "prometheus", self.prometheus_port),
                ("monitor.alertmanager_port", "alertmanager", self.alertmanager_port),
                ("monitor.exporter_port", "redis_exporter", self.exporter_port)]

"""A failing backup schedule pages once through a real dispatcher; the next success resolves it."""

from __future__ import annotations

from pathlib import Path

from alert_endpoints import Endpoint

from redisops.alerts import build_dispatcher
from redisops.data.backup.alerting import BackupAlerts
from redisops.data.backup.errors import StorageError
from redisops.spec.alerts import AlertsSpec


def test_two_failures_page_once_then_success_resolves(tmp_path: Path, endpoint: Endpoint) -> None:
    spec = AlertsSpec.model_validate({"channels": [{"type": "webhook", "url": endpoint.url + "/hook"}]})
    dispatcher = build_dispatcher(spec, tmp_path)
    dispatcher.start()
    try:
        alerts = BackupAlerts(dispatcher, "demo")
        alerts.failed(StorageError("s3://bucket/backups", "bucket unreachable"))
        alerts.failed(StorageError("s3://bucket/backups", "bucket unreachable"))
        alerts.succeeded("backed up 20261125T180000Z-demo (100 keys)")
        assert dispatcher.flush(10)
    finally:
        dispatcher.stop(5)
    bodies = [r.json() for r in endpoint.at("/hook")]
    assert [b["state"] for b in bodies] == ["firing", "resolved"]
    incident = bodies[1]["incident"]
    assert incident["kind"] == "backup_failed" and incident["key"] == "backup_failed:demo"
    assert [e["event"] for e in incident["timeline"]] == ["backup failed", "backup failed", "backup succeeded"]
    assert "bucket unreachable" in bodies[0]["incident"]["summary"]


def test_success_without_failure_sends_nothing() -> None:
    class Sink:
        seen: list[object] = []

        def notify(self, incident: object) -> None:
            self.seen.append(incident)

    sink = Sink()
    BackupAlerts(sink, "demo").succeeded("backed up")
    assert sink.seen == []

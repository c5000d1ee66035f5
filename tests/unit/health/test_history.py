"""The SQLite history: one row per bucket (the last sample wins), 24 hours kept, alerts kept
with their clear time, and alerts left open by a stop closed at the next start."""

from __future__ import annotations

from pathlib import Path

from nocraven.health.history import HealthStore
from nocraven.schema.health import Alert

DAY = 86400.0


def test_fixed_resolution_and_24_hours_kept(tmp_path: Path) -> None:
    store = HealthStore(tmp_path / "health.sqlite", resolution_s=60)
    start = 1_000_000.0 * 60
    for i in range(12):  # two minutes at 10 s
        store.record(start + 10 * i, {"disk": float(i)})
    points = store.points(0)
    assert [p.values["disk"] for p in points] == [5.0, 11.0]  # last sample of each minute
    store.record(start + DAY + 60, {"disk": 99.0})
    assert [p.values["disk"] for p in store.points(0)] == [11.0, 99.0]  # the first minute aged out
    store.close()
    reopened = HealthStore(tmp_path / "health.sqlite", resolution_s=60)
    assert [p.values["disk"] for p in reopened.points(start + DAY)] == [99.0]
    reopened.close()


def test_alerts_are_kept_with_their_clear_time_and_open_ones_closed_on_restart(tmp_path: Path) -> None:
    store = HealthStore(tmp_path / "health.sqlite")
    disk = Alert(metric="disk", severity="warning", message="data disk at 90.0 %", value=90.0, raised_at=100.0)
    cpu = Alert(metric="cpu", severity="critical", message="CPU at 99.0 %", value=99.0, raised_at=150.0)
    store.alert_raised(disk)
    store.alert_raised(cpu)
    store.alert_cleared(_cleared(disk, 200.0))
    alerts = store.alerts()
    assert [(a.metric, a.cleared_at) for a in alerts] == [("cpu", None), ("disk", 200.0)]
    store.close_open_alerts(300.0)
    assert [(a.metric, a.cleared_at) for a in store.alerts()] == [("cpu", 300.0), ("disk", 200.0)]
    store.close()


def _cleared(alert: Alert, at: float) -> Alert:
    return Alert(
        metric=alert.metric,
        severity=alert.severity,
        message=alert.message,
        value=alert.value,
        raised_at=alert.raised_at,
        cleared_at=at,
    )

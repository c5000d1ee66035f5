"""The alert model driven with synthetic samples: an alert is raised only once its level held,
clears only below the clear margin after holding, escalates and lowers, and a value wobbling
around a level does not flap."""

from __future__ import annotations

from nocraven.health.settings import HealthSettings
from nocraven.health.thresholds import AlertModel, Change, Threshold

DISK = Threshold("disk", warning=85.0, critical=95.0, clear_margin=5.0)


def drive(model: AlertModel, samples: list[tuple[float, float]]) -> list[tuple[float, Change]]:
    """(time, disk %) samples in; (time, change) out."""
    out = []
    for now, value in samples:
        out.extend((now, change) for change in model.observe({"disk": value}, now))
    return out


def test_an_alert_is_raised_once_the_level_held_for_the_hold_time() -> None:
    model = AlertModel([DISK], hold_s=30)
    changes = drive(model, [(t, 90.0) for t in range(0, 60, 5)])
    assert len(changes) == 1
    at, change = changes[0]
    assert at == 30 and change.cleared is None
    assert change.raised is not None and change.raised.severity == "warning"
    assert change.raised.raised_at == 30
    assert change.raised.message == "data disk at 90.0 % (warning above 85 %)"
    assert [a.metric for a in model.active()] == ["disk"]


def test_a_short_spike_raises_nothing() -> None:
    model = AlertModel([DISK], hold_s=30)
    assert drive(model, [(0, 50.0), (5, 99.0), (10, 99.0), (15, 99.0), (20, 50.0), (60, 50.0)]) == []
    assert model.active() == []


def test_a_value_wobbling_around_the_level_raises_one_alert_and_does_not_clear_above_the_margin() -> None:
    model = AlertModel([DISK], hold_s=10)
    wobble = [(t, 86.0 if (t // 5) % 2 == 0 else 84.0) for t in range(0, 200, 5)]
    changes = drive(model, [(-20, 86.0), (-10, 86.0), *wobble])
    assert len(changes) == 1  # raised at -10; 84 % is within the 5-point clear margin
    assert changes[0][1].raised is not None


def test_an_alert_clears_below_the_margin_after_the_hold_and_the_cleared_copy_keeps_its_raise_time() -> None:
    model = AlertModel([DISK], hold_s=20)
    drive(model, [(0, 90.0), (20, 90.0)])
    assert drive(model, [(30, 81.0), (40, 81.0), (100, 81.0)]) == []  # 81 > 85 - 5: still warning
    changes = drive(model, [(110, 70.0), (120, 70.0), (130, 70.0)])
    assert len(changes) == 1
    at, change = changes[0]
    assert at == 130 and change.raised is None
    assert change.cleared is not None
    assert (change.cleared.raised_at, change.cleared.cleared_at, change.cleared.severity) == (20, 130, "warning")
    assert model.active() == []


def test_escalation_to_critical_and_back_to_warning() -> None:
    model = AlertModel([DISK], hold_s=0)
    ((_, first),) = drive(model, [(0, 88.0)])
    assert first.raised is not None and first.raised.severity == "warning"
    ((_, up),) = drive(model, [(5, 96.0)])
    assert up.raised is not None and up.raised.severity == "critical"
    assert up.cleared is not None and up.cleared.severity == "warning" and up.cleared.cleared_at == 5
    assert drive(model, [(10, 91.0)]) == []  # above 95 - 5: stays critical
    ((_, down),) = drive(model, [(15, 89.0)])
    assert down.raised is not None and down.raised.severity == "warning"


def test_missing_values_keep_the_state_and_thresholds_are_independent() -> None:
    cpu = Threshold("cpu", warning=90.0, critical=98.0)
    model = AlertModel([DISK, cpu], hold_s=0)
    model.observe({"disk": 99.0, "cpu": 10.0}, 0)
    assert [(a.metric, a.severity) for a in model.active()] == [("disk", "critical")]
    assert model.observe({"cpu": 10.0}, 10) == []  # no disk reading: the disk alert stays
    assert [(a.metric, a.severity) for a in model.active()] == [("disk", "critical")]


def test_settings_levels_and_the_warning_below_critical_check() -> None:
    settings = HealthSettings()
    assert settings.levels()["disk"] == (85.0, 95.0)
    assert set(settings.levels()) == {"cpu", "memory", "disk", "inodes", "buffer"}
    assert settings.cross_checks() == []
    bad = HealthSettings(disk_warning_percent=96.0)
    assert bad.cross_checks() == ["health.disk_warning_percent = 96 must be below health.disk_critical_percent = 95"]

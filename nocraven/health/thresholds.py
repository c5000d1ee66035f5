"""Thresholds and alerts, sans-IO: values and `now` in, raised and cleared alerts out.

Each metric has a warning and a critical level. A value at or above a level targets that
severity; an active severity is kept until the value falls `clear_margin` below its level
(hysteresis), and any change of severity (raise, escalate, lower, clear) happens only once the
new target has held for `hold_s`, so a value wobbling around a level raises one alert, not one
per sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nocraven.schema.health import Alert, Severity

LABELS = {
    "cpu": "CPU",
    "memory": "memory",
    "disk": "data disk",
    "inodes": "data disk inodes",
    "buffer": "buffer",
}


@dataclass(frozen=True)
class Threshold:
    metric: str  # "disk": its value is a percentage
    warning: float
    critical: float
    clear_margin: float = 5.0

    def target(self, value: float, current: Severity | None) -> Severity | None:
        critical_level = self.critical - (self.clear_margin if current == "critical" else 0.0)
        if value >= critical_level:
            return "critical"
        warning_level = self.warning - (self.clear_margin if current is not None else 0.0)
        if value >= warning_level:
            return "warning"
        return None

    def message(self, severity: Severity, value: float) -> str:
        level = self.critical if severity == "critical" else self.warning
        label = LABELS.get(self.metric, self.metric)
        return f"{label} at {value:.1f} % ({severity} above {level:g} %)"


@dataclass
class _Track:
    active: Alert | None = None
    pending: Severity | None = None
    pending_since: float | None = None  # when the value first asked for `pending`


@dataclass(frozen=True)
class Change:
    raised: Alert | None = None  # the alert now active (new or of another severity)
    cleared: Alert | None = None  # the alert it replaces or ends, with its cleared_at


class AlertModel:
    def __init__(self, thresholds: list[Threshold], hold_s: float) -> None:
        self.thresholds = {t.metric: t for t in thresholds}
        self.hold_s = hold_s
        self._tracks = {t.metric: _Track() for t in thresholds}

    def active(self) -> list[Alert]:
        return [t.active for t in self._tracks.values() if t.active is not None]

    def observe(self, values: Mapping[str, float | None], now: float) -> list[Change]:
        """Feed one sample; returns what changed. A metric missing (None) keeps its state."""
        changes = []
        for metric, threshold in self.thresholds.items():
            value = values.get(metric)
            if value is None:
                continue
            track = self._tracks[metric]
            current = track.active.severity if track.active is not None else None
            target = threshold.target(value, current)
            if target == current:
                track.pending = track.pending_since = None
                continue
            if track.pending != target or track.pending_since is None:
                track.pending, track.pending_since = target, now
            if now - track.pending_since < self.hold_s:
                continue
            changes.append(self._apply(track, threshold, target, value, now))
        return changes

    def _apply(self, track: _Track, threshold: Threshold, target: Severity | None, value: float, now: float) -> Change:
        old = track.active
        cleared = None
        if old is not None:
            cleared = Alert(
                metric=old.metric,
                severity=old.severity,
                message=old.message,
                value=value,
                raised_at=old.raised_at,
                cleared_at=now,
            )
        raised = None
        if target is not None:
            raised = Alert(
                metric=threshold.metric,
                severity=target,
                message=threshold.message(target, value),
                value=value,
                raised_at=now,
            )
        track.active = raised
        track.pending = track.pending_since = None
        return Change(raised=raised, cleared=cleared)

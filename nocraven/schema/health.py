"""The health bodies: the appliance's resources, its alerts, forecasts and history, and the
alert events on the watch stream."""

from __future__ import annotations

from typing import ClassVar, Literal

from nocraven.schema.base import Body
from nocraven.schema.engine import Listener
from nocraven.schema.events import Event, register

Severity = Literal["warning", "critical"]


class InterfaceCounters(Body):
    bytes_recv: int = 0
    bytes_sent: int = 0
    errors_in: int = 0
    errors_out: int = 0
    drops_in: int = 0
    drops_out: int = 0


class SystemSample(Body):
    """One psutil reading of the box and of the engine process."""

    at: float
    cpu_percent: float
    cpu_count: int
    load1: float
    load5: float
    load15: float
    memory_total_bytes: int
    memory_available_bytes: int
    memory_percent: float
    disk_path: str  # the data dir (or its nearest existing parent)
    disk_total_bytes: int
    disk_used_bytes: int
    disk_free_bytes: int
    disk_percent: float
    inodes_total: int
    inodes_free: int
    inodes_percent: float
    interfaces: dict[str, InterfaceCounters]
    process_rss_bytes: int
    process_open_files: int


class Alert(Body):
    metric: str  # e.g. "disk_percent"
    severity: Severity
    message: str  # one line a person can act on
    value: float
    raised_at: float
    cleared_at: float | None = None


class Forecast(Body):
    metric: str  # "disk" or "buffer"
    text: str  # "disk full in 3.2 days at this rate"
    seconds: float | None  # until full; None when it is not filling
    rate_per_s: float  # bytes per second from the least-squares trend


class HealthReport(Body):
    """GET /v1/health."""

    status: Literal["ok", "warning", "critical"]
    system: SystemSample | None  # None until the first sample
    components: dict[str, str]  # each component's state
    listeners: list[Listener]
    buffer_fill_percent: float | None
    active: list[Alert]
    history: list[Alert]  # most recent first
    forecasts: list[Forecast]
    interval_s: float


class HistoryPoint(Body):
    at: float
    values: dict[str, float]


class HealthHistory(Body):
    """GET /v1/health/history: the sampled values at the history's fixed resolution."""

    resolution_s: float
    points: list[HistoryPoint]


@register
class AlertRaised(Event, frozen=True, kw_only=True):
    """An alert crossed its level and held it (or changed severity)."""

    kind: ClassVar[str] = "health.alert_raised"
    alert: Alert


@register
class AlertCleared(Event, frozen=True, kw_only=True):
    kind: ClassVar[str] = "health.alert_cleared"
    alert: Alert

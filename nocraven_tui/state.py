"""What the console knows about the engine: a plain object the app's message handlers update.

No Textual and no I/O here: handlers call `apply_*` with what the engine said and the time it
was said; screens read. Time comes in as an argument so tests and snapshots are deterministic.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Collector components and how the dashboard titles them, in display order.
COLLECTORS: tuple[tuple[str, str], ...] = (
    ("syslog", "Syslog"),
    ("flow", "Flows"),
    ("snmptrap", "SNMP traps"),
    ("winevents", "Windows events"),
)
# The counter that counts ingested records, by the names collectors use for it.
RECORD_COUNTER_KEYS = ("messages", "records", "flows", "traps", "events")
NOT_AVAILABLE = "not_available"

# Buffer fill thresholds for alerts, in percent.
FILL_WARNING = 75.0
FILL_CRITICAL = 90.0


@dataclass
class ComponentView:
    name: str
    state: str = NOT_AVAILABLE
    since: float | None = None
    restarts: int = 0
    last_error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    counters: dict[str, Any] = field(default_factory=dict)
    counters_at: float | None = None

    @property
    def available(self) -> bool:
        return self.state != NOT_AVAILABLE

    @property
    def description(self) -> str:
        return str(self.detail.get("description") or self.name)


class RateHistory:
    """Ingest rate samples (about one a second) for the dashboard sparklines."""

    def __init__(self, max_samples: int = 900) -> None:
        self.samples: deque[tuple[float, float]] = deque(maxlen=max_samples)

    def add(self, at: float, rate: float) -> None:
        self.samples.append((at, rate))

    @property
    def latest(self) -> float | None:
        return self.samples[-1][1] if self.samples else None

    def buckets(self, count: int, bucket_s: float) -> list[float | None]:
        """Mean rate per bucket, oldest first, the last bucket ending at the newest sample."""
        if not self.samples or count <= 0:
            return [None] * max(count, 0)
        end = self.samples[-1][0]
        start = end - count * bucket_s
        sums = [0.0] * count
        hits = [0] * count
        for at, rate in self.samples:
            if at <= start:
                continue
            # Buckets are (start, end]: the newest sample falls in the last one.
            index = min(count - 1, max(0, math.ceil((at - start) / bucket_s) - 1))
            sums[index] += rate
            hits[index] += 1
        return [sums[i] / hits[i] if hits[i] else None for i in range(count)]


class LiveRing:
    """The newest sampled records, bounded; `appended` lets a view take only what is new."""

    def __init__(self, capacity: int = 5000) -> None:
        self.records: deque[dict[str, Any]] = deque(maxlen=capacity)
        self.appended = 0  # records ever appended (the ring forgets, this does not)
        self.represented = 0  # ingested records the samples stand for (their `total`)

    @property
    def capacity(self) -> int:
        return self.records.maxlen or 0

    def extend(self, records: list[dict[str, Any]], total: int) -> None:
        self.records.extend(records)
        self.appended += len(records)
        self.represented += max(total, len(records))

    def since(self, mark: int) -> tuple[list[dict[str, Any]], int]:
        """Records appended after `mark` that the ring still holds, and the new mark."""
        new = min(self.appended - mark, len(self.records))
        if new <= 0:
            return [], self.appended
        if new == len(self.records):
            return list(self.records), self.appended
        # Slicing a deque from the right end: cheap for the small batches a view takes per tick.
        return [self.records[i] for i in range(len(self.records) - new, len(self.records))], self.appended

    def clear(self) -> None:
        self.records.clear()


@dataclass(frozen=True)
class Alert:
    severity: str  # "critical" or "warning"
    text: str


@dataclass
class ReadOutcome:
    """The last answer to a read (buffer stats, system): data, or why there is none."""

    data: Any = None
    error_code: str | None = None
    error_message: str | None = None
    at: float | None = None

    @property
    def not_available(self) -> bool:
        return self.error_code in (NOT_AVAILABLE, "not_found")


class ConsoleState:
    def __init__(self, role_override: str | None = None, live_capacity: int = 5000) -> None:
        self.role_override = role_override
        self.connection = "connecting"  # connecting | connected | stopping | down
        self.down_reason: str | None = None
        self.retry_at: float | None = None
        self.status: dict[str, Any] = {}
        self.status_at: float | None = None  # console clock time the snapshot arrived
        self.seq = 0
        self.components: dict[str, ComponentView] = {}
        self.rates: dict[str, RateHistory] = {}
        self.live = LiveRing(live_capacity)
        self.buffer_stats = ReadOutcome()
        self.system = ReadOutcome()

    # ---- what handlers apply ------------------------------------------------------------

    def apply_snapshot(self, data: dict[str, Any], seq: int, now: float) -> None:
        self.connection = "connected"
        self.down_reason = None
        self.retry_at = None
        self.seq = seq
        self.status = {k: v for k, v in data.items() if k != "components"}
        self.status_at = now
        previous = self.components
        self.components = {}
        for name, comp in (data.get("components") or {}).items():
            view = ComponentView(
                name=name,
                state=comp.get("state", NOT_AVAILABLE),
                since=comp.get("since"),
                restarts=comp.get("restarts") or 0,
                last_error=comp.get("last_error"),
                detail=dict(comp.get("detail") or {}),
            )
            if name in previous:  # keep counters across a reconnect until fresh ones arrive
                view.counters = previous[name].counters
                view.counters_at = previous[name].counters_at
            totals = view.detail.get("totals")
            if isinstance(totals, dict) and not view.counters:
                view.counters = dict(totals)  # collectors report their totals in the status detail
            self.components[name] = view

    def apply_state_change(self, component: str, state: str, error: str | None, restarts: int, at: float) -> None:
        view = self.components.setdefault(component, ComponentView(name=component))
        view.state = state
        view.since = at
        view.restarts = restarts
        if error is not None:
            view.last_error = error

    def apply_counters(self, component: str, counters: dict[str, Any], at: float) -> None:
        view = self.components.get(component)
        if view is None:
            # A component that started after our snapshot: it runs, since it counts.
            view = self.components[component] = ComponentView(name=component, state="running")
        rate = _rate(view.counters, view.counters_at, counters, at)
        view.counters = counters
        view.counters_at = at
        if rate is not None:
            self.rates.setdefault(component, RateHistory()).add(at, rate)

    def mark_stopping(self, reason: str) -> None:
        self.connection = "stopping"
        self.down_reason = f"engine stopping ({reason})"

    def mark_down(self, reason: str, now: float, retry_in: float) -> None:
        self.connection = "down"
        self.down_reason = reason
        self.retry_at = now + retry_in

    # ---- what screens read --------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.connection == "connected"

    @property
    def role(self) -> str:
        return self.role_override or str(self.status.get("role") or "unknown")

    @property
    def can_write(self) -> bool:
        return self.role == "admin"

    @property
    def hostname(self) -> str:
        return str(self.status.get("hostname") or "-")

    def uptime(self, now: float) -> float | None:
        if not self.connected or self.status_at is None or "uptime_s" not in self.status:
            return None
        return float(self.status["uptime_s"]) + max(0.0, now - self.status_at)

    def component(self, name: str) -> ComponentView:
        return self.components.get(name) or ComponentView(name=name)

    def record_count(self, name: str) -> int | None:
        counters = self.component(name).counters
        for key in RECORD_COUNTER_KEYS:
            if key in counters:
                return int(counters[key])
        return None

    def buffer_summary(self) -> dict[str, Any]:
        """The buffer's latest figures: live counters over the status detail over the last stats read."""
        summary: dict[str, Any] = {}
        stats = self.buffer_stats.data
        if isinstance(stats, dict):
            total = stats.get("total") or {}
            summary.update({k: total.get(k) for k in ("records", "raw_bytes", "stored_bytes", "fill_percent")})
            summary["budget_bytes"] = total.get("budget_bytes")
            summary["forecast_days"] = stats.get("forecast_days")
        buffer = self.component("buffer")
        summary.update({k: v for k, v in buffer.detail.items() if k != "description"})
        summary.update(buffer.counters)
        return summary

    def buffer_fill(self) -> float | None:
        if not self.component("buffer").available:
            return None
        fill = self.buffer_summary().get("fill_percent")
        return float(fill) if fill is not None else None

    def vpn_label(self) -> str:
        vpn = self.component("vpn")
        if not vpn.available:
            return "n/a"
        connected = vpn.detail.get("connected", vpn.counters.get("connected"))
        if connected is None:
            return "down" if vpn.state in ("failed", "stopped") else vpn.state
        return "up" if connected else "down"

    def alerts(self) -> list[Alert]:
        """Alerts the console derives until the health component reports its own."""
        found: list[Alert] = []
        if self.connection == "down":
            found.append(Alert("critical", f"engine unreachable: {self.down_reason}"))
        for view in sorted(self.components.values(), key=lambda v: v.name):
            if view.state == "failed":
                found.append(Alert("critical", f"{view.name} failed: {view.last_error or 'no reason given'}"))
            elif view.state == "restarting":
                found.append(Alert("warning", f"{view.name} restarting (restart {view.restarts})"))
            kernel_drops = view.counters.get("kernel_drops")
            if kernel_drops:
                found.append(Alert("warning", f"{view.name}: {kernel_drops:,} datagrams dropped by the kernel"))
        fill = self.buffer_fill()
        if fill is not None and fill >= FILL_CRITICAL:
            found.append(Alert("critical", f"buffer {fill:.0f}% full"))
        elif fill is not None and fill >= FILL_WARNING:
            found.append(Alert("warning", f"buffer {fill:.0f}% full"))
        dropped = self.buffer_summary().get("dropped_records") if self.component("buffer").available else None
        if dropped:
            found.append(Alert("warning", f"buffer dropped {dropped:,} records"))
        return found

    def sorted_components(self) -> Iterable[ComponentView]:
        """Running and failing first, the not-yet-available last, each group by name."""
        return sorted(self.components.values(), key=lambda v: (not v.available, v.name))


def _rate(before: dict[str, Any], before_at: float | None, after: dict[str, Any], after_at: float) -> float | None:
    if "rate_mps" in after:
        return float(after["rate_mps"])
    if before_at is None or after_at <= before_at:
        return None
    for key in RECORD_COUNTER_KEYS:
        if key in after and key in before:
            return max(0.0, (float(after[key]) - float(before[key])) / (after_at - before_at))
    return None

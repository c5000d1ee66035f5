"""What the console knows about the engine: a plain object the app's message handlers update.

No Textual and no I/O here: handlers call `apply_*` with what the engine said and the time it
was said; screens read. Time comes in as an argument so tests and snapshots are deterministic.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import msgspec

from nocraven.humanize import clock_time
from nocraven.schema.buffer import BufferCounters
from nocraven.schema.collector import CollectorStatus, CollectorSummary
from nocraven.schema.engine import EMPTY_DETAIL, ComponentStatus, Description, EngineStatus
from nocraven.schema.forward import ForwardStatus
from nocraven.schema.health import Alert as HealthAlert
from nocraven.schema.health import HealthReport
from nocraven_tui.exchange import BUFFER_STATS, FORWARD_STATUS, EngineMatch, Read
from nocraven_tui.figures import BUFFER, FORWARD, Counters

T = TypeVar("T")

# Collector components and how the dashboard titles them, in display order.
COLLECTORS: tuple[tuple[str, str], ...] = (
    ("syslog", "Syslog"),
    ("flow", "Flows"),
    ("snmptrap", "SNMP traps"),
    ("winevents", "Windows events"),
)
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
    # The component's own detail Struct, as the status carried it (decoded on demand by `detail_as`).
    detail: msgspec.Raw = field(default_factory=lambda: EMPTY_DETAIL)
    counters: Counters | None = None  # its latest counters Struct, once it reported (or its totals)
    counters_at: float | None = None
    _decoded: dict[type, object] = field(default_factory=dict, repr=False)

    @classmethod
    def from_status(cls, name: str, status: ComponentStatus) -> ComponentView:
        return cls(name, str(status.state), status.since, status.restarts, status.last_error, status.detail)

    @property
    def available(self) -> bool:
        return self.state != NOT_AVAILABLE

    def detail_as(self, tp: type[T]) -> T | None:
        """The detail as `tp`, decoded once; None when the detail is something else."""
        if tp not in self._decoded:
            try:
                self._decoded[tp] = msgspec.json.decode(self.detail, type=tp)
            except (msgspec.DecodeError, msgspec.ValidationError):
                self._decoded[tp] = None
        return cast("T | None", self._decoded[tp])

    @property
    def description(self) -> str:
        found = self.detail_as(Description)
        return found.description if found is not None and found.description else self.name

    @property
    def summary(self) -> CollectorSummary | None:
        """A collector's totals: its latest counters, else those its status detail carried."""
        return self.counters if isinstance(self.counters, CollectorSummary) else None

    def plain(self) -> dict[str, object]:
        """Detail and counters as a mapping, for capabilities this console has no schema for."""
        detail = self.detail_as(dict[str, object]) or {}
        counters = self.counters if isinstance(self.counters, dict) else {}
        return {**detail, **counters}


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


RATE_WINDOW_S = 5.0  # the sampled view's "N of M records/s" is averaged over this long


class LiveRing:
    """The newest sampled records, bounded; `appended` lets a view take only what is new."""

    def __init__(self, capacity: int = 5000) -> None:
        self.records: deque[dict[str, Any]] = deque(maxlen=capacity)
        self.appended = 0  # records ever appended (the ring forgets, this does not)
        self.represented = 0  # ingested records the samples stand for (their `total`)
        # (engine time, records sampled, records they stand for) per batch, for the sampling rate
        self._batches: deque[tuple[float, int, int]] = deque()

    @property
    def capacity(self) -> int:
        return self.records.maxlen or 0

    def extend(self, records: list[dict[str, Any]], total: int, at: float | None = None) -> None:
        self.records.extend(records)
        self.appended += len(records)
        self.represented += max(total, len(records))
        if at is not None:
            self._batches.append((at, len(records), max(total, len(records))))
            while self._batches and self._batches[0][0] <= at - RATE_WINDOW_S:
                self._batches.popleft()

    def sampling_rate(self) -> tuple[float, float] | None:
        """(records shown, records ingested) per second over the last few seconds of samples."""
        if not self._batches:
            return None
        newest = self._batches[-1][0]
        span = max(1.0, newest - self._batches[0][0]) if len(self._batches) > 1 else 1.0
        shown = sum(batch[1] for batch in self._batches)
        ingested = sum(batch[2] for batch in self._batches)
        return shown / span, ingested / span

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


HEALTH = "health"
HEALTH_ALERTS_HEARD = 200  # raised and cleared events kept for the Health screen's history


class HealthAlerts:
    """The health monitor's alerts as this console heard them: the active ones from the snapshot
    (the health component's status detail), then every `health.alert_raised` / `alert_cleared`.

    The engine keeps one active alert per metric (a change of severity is a new raise), so the
    active set is keyed by metric. `heard` keeps the events, newest first, so the history shows
    what came and went even between two reads of the engine's own history.
    """

    def __init__(self) -> None:
        self.active: dict[str, HealthAlert] = {}
        self.heard: deque[HealthAlert] = deque(maxlen=HEALTH_ALERTS_HEARD)

    def reset(self, active: Iterable[HealthAlert]) -> None:
        self.active = {alert.metric: alert for alert in active}

    def raised(self, alert: HealthAlert) -> None:
        self.active[alert.metric] = alert
        self.heard.appendleft(alert)

    def cleared(self, alert: HealthAlert) -> None:
        current = self.active.get(alert.metric)
        if current is not None and current.raised_at <= alert.raised_at:
            del self.active[alert.metric]
        self.heard.appendleft(alert)

    def worst(self) -> str | None:
        severities = {alert.severity for alert in self.active.values()}
        return "critical" if "critical" in severities else "warning" if severities else None

    def history(self, reported: Iterable[HealthAlert] = ()) -> list[HealthAlert]:
        """Each alert once (by metric and when it was raised), its cleared copy over its raised
        one, newest raised first: what the engine reported merged with what the console heard."""
        by_raise: dict[tuple[str, float], HealthAlert] = {}
        for alert in (*self.heard, *reported):
            key = (alert.metric, alert.raised_at)
            known = by_raise.get(key)
            if known is None or (known.cleared_at is None and alert.cleared_at is not None):
                by_raise[key] = alert
        return sorted(by_raise.values(), key=lambda a: a.raised_at, reverse=True)


@dataclass
class ReadOutcome:
    """The last answer to a read (`state.reads[key]`): its value, or why there is none."""

    value: Any = None
    error_code: str | None = None
    error_message: str | None = None
    at: float | None = None

    @property
    def not_available(self) -> bool:
        return self.error_code in (NOT_AVAILABLE, "not_found")


STREAM_EVENTS_KEPT = 2000  # per stream: a 1000-probe ping and its summary fit


@dataclass
class StreamLog:
    """What a followed stream has delivered (`state.streams[key]`): its events, newest last, and
    how it ended (`code` None while running or when it ended by itself)."""

    started_at: float
    run: int = 0  # which run of this key: a cancelled run's late messages must not touch the next
    events: deque[Any] = field(default_factory=lambda: deque(maxlen=STREAM_EVENTS_KEPT))
    running: bool = True
    code: str | None = None
    message: str = ""
    ended_at: float | None = None

    @property
    def cancelled(self) -> bool:
        return self.code == "cancelled"

    def last(self, kind: type[T]) -> T | None:
        """The newest event of this type (a summary), if one came."""
        for event in reversed(self.events):
            if isinstance(event, kind):
                return event
        return None


class ConsoleState:
    def __init__(self, role_override: str | None = None, live_capacity: int = 5000) -> None:
        self.role_override = role_override
        self.connection = "connecting"  # connecting | connected | stopping | down
        self.down_reason: str | None = None
        self.retry_at: float | None = None
        # When the engine was last heard from before it went away: every live figure is from then.
        self.stale_since: float | None = None
        self.status: EngineStatus | None = None  # the last snapshot, its components aside
        self.status_at: float | None = None  # console clock time the snapshot arrived
        self.seq = 0
        self.components: dict[str, ComponentView] = {}
        self.rates: dict[str, RateHistory] = {}
        self.live = LiveRing(live_capacity)
        # The Live screen's engine-filtered stream: every matching record, not a sample.
        self.matched = LiveRing(live_capacity)
        self.match: EngineMatch | None = None  # the filter the engine applies, None when sampling
        self.match_generation = 0  # which filter the records in `matched` answer
        self.match_ended: str | None = None  # why the filtered stream stopped, while it is stopped
        self.reads: dict[str, ReadOutcome] = {}  # by `Read.key`
        self.writes: dict[str, str] = {}  # the last outcome by `Write.key`, newest last
        self.streams: dict[str, StreamLog] = {}  # the newest run by `Stream.key`
        self.previous_streams: dict[str, StreamLog] = {}  # the run before it, to compare
        self._stream_runs = 0
        self.health = HealthAlerts()

    # ---- what handlers apply ------------------------------------------------------------

    def apply_snapshot(self, status: EngineStatus, seq: int, now: float) -> None:
        self.connection = "connected"
        self.down_reason = None
        self.retry_at = None
        self.stale_since = None
        self.seq = seq
        self.status = status
        self.status_at = now
        previous = self.components
        self.components = {}
        for name, comp in status.components.items():
            view = ComponentView.from_status(name, comp)
            if name in previous:  # keep counters across a reconnect until fresh ones arrive
                view.counters = previous[name].counters
                view.counters_at = previous[name].counters_at
            collector = view.detail_as(CollectorStatus)
            if collector is not None and view.counters is None:
                view.counters = collector.totals  # collectors report their totals in the status detail
            self.components[name] = view
        report = self.component(HEALTH).detail_as(HealthReport)
        self.health.reset(report.active if report is not None else ())

    def apply_state_change(self, component: str, state: str, error: str | None, restarts: int, at: float) -> None:
        view = self.components.setdefault(component, ComponentView(name=component))
        view.state = state
        view.since = at
        view.restarts = restarts
        if error is not None:
            view.last_error = error

    def apply_counters(self, component: str, counters: Counters, at: float) -> None:
        view = self.components.get(component)
        if view is None:
            # A component that started after our snapshot: it runs, since it counts.
            view = self.components[component] = ComponentView(name=component, state="running")
        view.counters = counters
        view.counters_at = at
        if isinstance(counters, CollectorSummary):
            self.rates.setdefault(component, RateHistory()).add(at, counters.rate_mps)

    def apply_alert_raised(self, alert: HealthAlert) -> None:
        self.health.raised(alert)

    def apply_alert_cleared(self, alert: HealthAlert) -> None:
        self.health.cleared(alert)

    def apply_read(self, key: str, value: object, now: float) -> None:
        self.reads[key] = ReadOutcome(value=value, at=now)

    def apply_read_failure(self, key: str, code: str, message: str, now: float) -> None:
        outcome = self.reads.get(key) or ReadOutcome()
        # Keep the last good figures on screen and say why they are not fresh.
        keep = None if code in (NOT_AVAILABLE, "not_found") else outcome.value
        self.reads[key] = ReadOutcome(value=keep, error_code=code, error_message=message, at=now)

    def apply_write(self, key: str, text: str) -> None:
        self.writes.pop(key, None)  # re-insert: the dict's order is newest last
        self.writes[key] = text

    def start_stream(self, key: str, now: float) -> int:
        """A new run under `key`; the one before it (if it showed anything) is kept to compare."""
        earlier = self.streams.get(key)
        if earlier is not None and earlier.events:
            self.previous_streams[key] = earlier
        self._stream_runs += 1
        self.streams[key] = StreamLog(started_at=now, run=self._stream_runs)
        return self._stream_runs

    def _current_run(self, key: str, run: int) -> StreamLog | None:
        log = self.streams.get(key)
        return log if log is not None and log.run == run and log.running else None

    def apply_stream_event(self, key: str, run: int, event: object) -> None:
        log = self._current_run(key, run)
        if log is not None:
            log.events.append(event)

    def apply_stream_end(self, key: str, run: int, code: str | None, message: str, now: float) -> None:
        log = self._current_run(key, run)
        if log is not None:
            log.running = False
            log.code = code
            log.message = message
            log.ended_at = now

    def mark_stopping(self, reason: str, now: float) -> None:
        self._went_stale(now)
        self.connection = "stopping"
        self.down_reason = f"engine stopping ({reason})"

    def mark_down(self, reason: str, now: float, retry_in: float) -> None:
        self._went_stale(now)
        self.connection = "down"
        self.down_reason = reason
        self.retry_at = now + retry_in

    def start_match(self, match: EngineMatch | None) -> int:
        """A new engine-side filter: forget the old one's records; returns its generation."""
        self.match = match
        self.match_generation += 1
        self.matched.clear()
        self.match_ended = None
        return self.match_generation

    def _went_stale(self, now: float) -> None:
        # Only the first loss counts: every retry that fails again must not move "since when".
        if self.stale_since is None and self.connection in ("connected", "stopping"):
            self.stale_since = now

    # ---- what screens read --------------------------------------------------------------

    def outcome(self, read: Read[Any]) -> ReadOutcome:
        return self.reads.get(read.key) or ReadOutcome()

    def value(self, read: Read[T]) -> T | None:
        """The read's last good answer, typed as the read declares it."""
        return cast("T | None", self.outcome(read).value)

    def write_result(self, *prefixes: str) -> str | None:
        """The newest outcome among writes whose key starts with one of `prefixes`."""
        found = [text for key, text in self.writes.items() if key.startswith(prefixes)]
        return found[-1] if found else None

    @property
    def connected(self) -> bool:
        return self.connection == "connected"

    @property
    def stale(self) -> bool:
        """The figures on screen are the last ones the engine sent before it went away."""
        return self.stale_since is not None and not self.connected

    def stale_note(self) -> str | None:
        """Says since when the figures are stale ("engine unreachable since 12:03:41Z: ..."); None while live."""
        if not self.stale or self.stale_since is None:
            return None
        what = "stopped" if self.connection == "stopping" else "unreachable"
        return f"engine {what} since {clock_time(self.stale_since)}Z: figures are from then"

    @property
    def role(self) -> str:
        return self.role_override or (self.status.role if self.status is not None else "unknown")

    @property
    def can_diagnose(self) -> bool:
        """The tech group runs diagnostics; read-only NOC tokens may not."""
        return self.role in ("admin", "tech")

    @property
    def can_write(self) -> bool:
        return self.role == "admin"

    @property
    def hostname(self) -> str:
        return self.status.hostname if self.status is not None and self.status.hostname else "-"

    def uptime(self, now: float) -> float | None:
        if not self.connected or self.status_at is None or self.status is None:
            return None
        return self.status.uptime_s + max(0.0, now - self.status_at)

    def component(self, name: str) -> ComponentView:
        return self.components.get(name) or ComponentView(name=name)

    def record_count(self, name: str) -> int | None:
        summary = self.component(name).summary
        return summary.messages if summary is not None else None

    def buffer_figures(self) -> BufferCounters | None:
        """The buffer's latest figures: its live counters, else its status detail."""
        view = self.component(BUFFER)
        if not view.available:
            return None
        if isinstance(view.counters, BufferCounters):
            return view.counters
        return view.detail_as(BufferCounters)

    def buffer_fill(self) -> float | None:
        figures = self.buffer_figures()
        if figures is not None:
            return figures.fill_percent
        stats = self.value(BUFFER_STATS)
        return stats.total.fill_percent if stats is not None and self.component(BUFFER).available else None

    def forward_figures(self) -> ForwardStatus | None:
        """Every sink and the worst state: the forwarder's live counters, else its status detail,
        else the Forwarding screen's last read."""
        view = self.component(FORWARD)
        if not view.available:
            return None
        if isinstance(view.counters, ForwardStatus):
            return view.counters
        return view.detail_as(ForwardStatus) or self.value(FORWARD_STATUS)

    def vpn_label(self) -> str:
        vpn = self.component("vpn")
        if not vpn.available:
            return "n/a"
        figures = vpn.plain()
        connected = figures.get("connected")
        if connected is None:
            return "down" if vpn.state in ("failed", "stopped") else vpn.state
        if connected:
            return "up"
        return {"connecting": "connecting", "disabled": "off"}.get(str(figures.get("state")), "down")

    def vpn_profile(self) -> str | None:
        """The profile the tunnel runs on (or is being brought up on), for the header."""
        figures = self.component("vpn").plain()
        active = figures.get("active")
        return str(active) if active and figures.get("state") in ("connected", "connecting") else None

    def alerts(self) -> list[Alert]:
        """The health monitor's active alerts, and those the console sees for itself (the engine
        gone, a component failing, drops); the buffer's fill only while no health monitor runs,
        since it has its own levels for it."""
        found: list[Alert] = []
        if self.connection == "down":
            found.append(Alert("critical", f"engine unreachable: {self.down_reason}"))
        for view in sorted(self.components.values(), key=lambda v: v.name):
            if view.state == "failed":
                found.append(Alert("critical", f"{view.name} failed: {view.last_error or 'no reason given'}"))
            elif view.state == "restarting":
                found.append(Alert("warning", f"{view.name} restarting (restart {view.restarts})"))
            summary = view.summary
            if summary is not None and summary.kernel_drops:
                found.append(Alert("warning", f"{view.name}: {summary.kernel_drops:,} datagrams dropped by the kernel"))
        for health_alert in sorted(self.health.active.values(), key=lambda a: a.severity != "critical"):
            found.append(Alert(health_alert.severity, health_alert.message))
        fill = None if self.component(HEALTH).available else self.buffer_fill()
        if fill is not None and fill >= FILL_CRITICAL:
            found.append(Alert("critical", f"buffer {fill:.0f}% full"))
        elif fill is not None and fill >= FILL_WARNING:
            found.append(Alert("warning", f"buffer {fill:.0f}% full"))
        figures = self.buffer_figures()
        if figures is not None and figures.dropped_records:
            found.append(Alert("warning", f"buffer dropped {figures.dropped_records:,} records"))
        return found

    def sorted_components(self) -> Iterable[ComponentView]:
        """Running and failing first, the not-yet-available last, each group by name."""
        return sorted(self.components.values(), key=lambda v: (not v.available, v.name))
